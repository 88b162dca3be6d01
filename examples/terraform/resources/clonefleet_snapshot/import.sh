# A snapshot is imported by its id (clonefleet snapshot ls VM).
terraform import clonefleet_snapshot.before_upgrade snap-3f9a0c27d4e1b856
