# A datastore is imported by its id (clonefleet datastore ls).
terraform import clonefleet_datastore.fast ds-3f9a1c0b2e7d4a51
