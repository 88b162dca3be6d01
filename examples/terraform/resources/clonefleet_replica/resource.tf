resource "clonefleet_datastore" "backup" {
  name = "backup"
  path = "/srv/clonefleet/backup"
}

# The template's disk recreated on the backup datastore. A chain whose lower layers the target
# already holds (by content ID) copies only the layers above them.
resource "clonefleet_replica" "debian_backup" {
  template_id         = clonefleet_template.debian.id
  target_datastore_id = clonefleet_datastore.backup.id
  verify              = true

  timeouts {
    create = "30m"
    update = "30m"
  }
}

# Any qcow2 chain inside a datastore works too, once its layers have content IDs
# (made by clonefleet, or registered with `clonefleet disk register`).
resource "clonefleet_replica" "golden" {
  source_disk_path    = "/srv/clonefleet/fast/images/golden-top.qcow2"
  target_datastore_id = clonefleet_datastore.backup.id
}

output "reused_layers" {
  value = clonefleet_replica.golden.reused_layers
}
