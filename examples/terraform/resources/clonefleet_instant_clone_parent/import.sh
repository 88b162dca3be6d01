# An instant-clone parent is imported by its id (clonefleet parent ls).
terraform import clonefleet_instant_clone_parent.base parent-5c02e9a7b4d13f68
