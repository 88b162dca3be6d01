# A disk pool is imported by its id (clonefleet pool ls).
terraform import clonefleet_disk_pool.debian_fast pool-3f1c9a0b7d2e4c68
