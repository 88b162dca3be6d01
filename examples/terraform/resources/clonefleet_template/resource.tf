resource "clonefleet_template" "debian" {
  name         = "debian"
  datastore_id = clonefleet_datastore.fast.id
  source_path  = "/images/debian-12.qcow2"
  memory_mb    = 1024
  vcpus        = 2

  timeouts {
    create = "30m"
  }
}
