# A linked clone: a qcow2 overlay on the template's disk, on the template's datastore.
resource "clonefleet_vm" "scratch" {
  name        = "scratch"
  template_id = clonefleet_template.debian.id
  clone_mode  = "linked"
}

# An independent disk on another datastore: a ready pool copy when there is one, else a full copy.
resource "clonefleet_vm" "build" {
  name         = "build"
  template_id  = clonefleet_template.debian.id
  datastore_id = clonefleet_datastore.fast.id
}

output "scratch_chain" {
  value = clonefleet_vm.scratch.disk_chain
}

# A running VM on host b with a migration policy: before a live migration its guest is told on
# its org.clonefleet.notify.0 channel and gets 30 s to acknowledge; without the acknowledgement
# the migration goes ahead anyway. Changing host_id migrates it live, in place.
resource "clonefleet_vm" "db" {
  name                             = "db"
  template_id                      = clonefleet_template.debian.id
  power_state                      = "running"
  host_id                          = "b"
  migration_notify_timeout_seconds = 30
  migration_on_missing_ack         = "proceed"
}
