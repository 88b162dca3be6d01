# A replica is imported by its id (clonefleet replica ls).
terraform import clonefleet_replica.debian_backup rep-5c0e2a9d71b4f386
