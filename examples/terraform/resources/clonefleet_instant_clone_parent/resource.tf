# A running VM captured as an instant-clone parent: its RAM goes to a file on the tmpfs, its
# device state is saved, its disk is frozen. The source is started again (a cold boot).
resource "clonefleet_instant_clone_parent" "base" {
  source_vm_id = clonefleet_vm.app.id
  name         = "app-base"
  ram_location = "tmpfs" # or "datastore": survives a host reboot
  warm_count   = 1       # children kept pre-started (state loaded, paused): a new clone only resumes one

  timeouts {
    create = "10m"
  }
}

# Two instant clones: no boot, each continues where the parent was captured, on its own
# overlay, the parent's RAM shared copy-on-write.
resource "clonefleet_vm" "worker" {
  count            = 2
  name             = "worker-${count.index + 1}"
  instant_clone_of = clonefleet_instant_clone_parent.base.id
  power_state      = "running"
}

output "worker_ids" {
  value = clonefleet_vm.worker[*].id
}
