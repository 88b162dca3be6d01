# A snapshot of a running VM: its disk is frozen at this instant (frozen_disk_path, for a
# backup agent to read) and the VM runs on, on a new overlay. Destroying it merges the
# overlay back while the VM keeps running.
resource "clonefleet_snapshot" "before_upgrade" {
  vm_id = clonefleet_vm.app.id
  name  = "before-upgrade"

  timeouts {
    create = "10m"
    delete = "1h" # consolidation of a large delta
  }
}

output "frozen_disk" {
  value = clonefleet_snapshot.before_upgrade.frozen_disk_path
}
