# A fleet is imported by its id (clonefleet fleet ls).
terraform import clonefleet_fleet.web fleet-6b2d94e1a7c03f58
