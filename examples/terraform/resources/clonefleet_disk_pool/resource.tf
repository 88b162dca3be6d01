# Eight ready copies of the template's disk on the fast datastore. A VM or fleet member placed
# there gets one by a rename; the engine refills the pool in the background.
resource "clonefleet_disk_pool" "debian_fast" {
  template_id  = clonefleet_template.debian.id
  datastore_id = clonefleet_datastore.fast.id
  size         = 8

  timeouts {
    create = "30m"
    update = "30m"
  }
}

# false while clones took copies and the refill has not caught up; the next apply waits for it.
output "pool_at_size" {
  value = clonefleet_disk_pool.debian_fast.at_size
}
