terraform {
  required_providers {
    clonefleet = {
      source  = "clonefleet/clonefleet"
      version = "~> 0.1"
    }
  }
}

# endpoint and token may also come from CLONEFLEET_ENDPOINT / CLONEFLEET_TOKEN.
provider "clonefleet" {
  endpoint = var.endpoint
  token    = var.token
}

variable "endpoint" {
  type    = string
  default = "http://127.0.0.1:7420"
}

variable "token" {
  type      = string
  sensitive = true
}

variable "datastore_path" {
  type        = string
  description = "Absolute directory on the engine host for the datastore."
}

variable "replica_datastore_path" {
  type        = string
  default     = null
  description = "Absolute directory on the engine host for the second datastore, which holds the template's replica; defaults to <datastore_path>-replica."
}

variable "image_path" {
  type        = string
  description = "A qcow2 or raw image on the engine host to import as a template."
}

resource "clonefleet_datastore" "local" {
  name = "local"
  path = var.datastore_path
}

resource "clonefleet_template" "tiny" {
  name         = "tiny"
  datastore_id = clonefleet_datastore.local.id
  source_path  = var.image_path
  memory_mb    = 256
  vcpus        = 1

  timeouts {
    create = "20m"
  }
}

# A second datastore, and the template's disk replicated onto it by content ID. If a layer of
# the replica is removed or changed outside Terraform, the next plan shows in_sync going back
# to true and the apply copies only what is missing.
resource "clonefleet_datastore" "replicas" {
  name = "replicas"
  path = coalesce(var.replica_datastore_path, "${var.datastore_path}-replica")
}

resource "clonefleet_replica" "tiny" {
  template_id         = clonefleet_template.tiny.id
  target_datastore_id = clonefleet_datastore.replicas.id

  timeouts {
    create = "20m"
    update = "20m"
  }
}

# A pool of ready copies of the template's disk on each datastore, and a fleet of four spread
# over both that takes those copies (a rename each) once the pools are full. A pool below its
# size shows as at_size going back to true; a member whose disk vanished shows as
# members_healthy going back to true, and the apply makes it again.
resource "clonefleet_disk_pool" "local" {
  template_id  = clonefleet_template.tiny.id
  datastore_id = clonefleet_datastore.local.id
  size         = 2
}

resource "clonefleet_disk_pool" "replicas" {
  template_id  = clonefleet_template.tiny.id
  datastore_id = clonefleet_datastore.replicas.id
  size         = 2
}

resource "clonefleet_fleet" "web" {
  template_id   = clonefleet_template.tiny.id
  size          = 4
  name_prefix   = "web"
  datastore_ids = [clonefleet_datastore.local.id, clonefleet_datastore.replicas.id]

  depends_on = [clonefleet_disk_pool.local, clonefleet_disk_pool.replicas]
}

# One linked clone: a qcow2 overlay on the template's disk.
resource "clonefleet_vm" "scratch" {
  name        = "scratch"
  template_id = clonefleet_template.tiny.id
  clone_mode  = "linked"
}

# The host (engine agent) named local: the first engine. Another engine started on the same
# state folder with --host-name joins as another host.
data "clonefleet_host" "local" {
  id = "local"
}

# A VM powered on, and a fork of it: the parent is stunned for a moment, the child starts where
# the parent was, and both run on chains at most two layers deep. power_state changes in place;
# a VM whose QEMU process died reads power_state = "stopped", and the next apply powers it on
# again. A fork removed outside Terraform is forked again. (Fleets take power_state too.)
# host_id places it; changing it live-migrates the running VM in place (a VM moved outside
# Terraform shows as a host_id change, and the apply moves it back). Before a migration its
# guest is told on its org.clonefleet.notify.0 channel and gets 10 s to acknowledge; without
# the acknowledgement the migration is aborted and the VM stays where it is.
resource "clonefleet_vm" "app" {
  name                             = "app"
  template_id                      = clonefleet_template.tiny.id
  clone_mode                       = "full"
  power_state                      = "running"
  host_id                          = data.clonefleet_host.local.id
  migration_notify_timeout_seconds = 10
  migration_on_missing_ack         = "abort"
}

resource "clonefleet_vm" "app_fork" {
  name        = "app-fork"
  fork_of     = clonefleet_vm.app.id
  power_state = "running"
}

# The running app VM captured as an instant-clone parent (its RAM in a file, its device state
# saved, its disk frozen), and two instant clones of it: no boot, each continues where the app
# was captured, on its own overlay, the parent's RAM shared copy-on-write. The capture stops the
# app for a moment; the provider starts it again (restart_source). An instant clone removed
# outside Terraform is cloned again. A parent whose files vanished (a tmpfs RAM file after a host
# reboot) is gone and planned again, but a VM with snapshots cannot be captured: here, first
# `terraform destroy -target=clonefleet_snapshot.app`, then apply (the snapshot is taken again
# after the capture). It is captured after the fork (a VM is captured or forked one at a time).
# warm_count keeps one child pre-started (QEMU up, waiting for the state), so a third clone
# would only load the state and resume; changing it is an in-place update.
resource "clonefleet_instant_clone_parent" "app" {
  source_vm_id = clonefleet_vm.app.id
  name         = "app-base"
  warm_count   = 1

  depends_on = [clonefleet_vm.app_fork]
}

resource "clonefleet_vm" "app_clone" {
  count            = 2
  name             = "app-clone-${count.index + 1}"
  instant_clone_of = clonefleet_instant_clone_parent.app.id
  power_state      = "running"
}

# A snapshot of the running app VM: its disk is frozen at this instant (frozen_disk_path, for a
# backup agent to read) while the VM runs on, on a new overlay. Destroying it consolidates: the
# overlay is merged back live and the VM never pauses. It is taken after the fork and the
# instant-clone parent (a VM with snapshots cannot be captured). A snapshot consolidated outside
# Terraform is gone, and the next apply takes it again.
resource "clonefleet_snapshot" "app" {
  vm_id = clonefleet_vm.app.id
  name  = "nightly"

  timeouts {
    delete = "30m"
  }

  depends_on = [clonefleet_vm.app_fork, clonefleet_instant_clone_parent.app]
}

data "clonefleet_disk_chain" "tiny" {
  path = clonefleet_template.tiny.disk_path
}

output "template_content_id" {
  value = clonefleet_template.tiny.content_id
}

output "template_chain" {
  value = data.clonefleet_disk_chain.tiny.layers
}

output "replica_disk_path" {
  value = clonefleet_replica.tiny.disk_path
}

output "replica_copied_bytes" {
  value = clonefleet_replica.tiny.copied_bytes
}

output "replica_chain" {
  value = clonefleet_replica.tiny.chain
}

output "fleet_provisioned_by" {
  value = { for m in clonefleet_fleet.web.vms : m.name => m.provisioned_by }
}

output "fleet_disk_paths" {
  value = [for m in clonefleet_fleet.web.vms : m.disk_path]
}

output "scratch_disk_chain" {
  value = clonefleet_vm.scratch.disk_chain
}

output "app_fork_forked_from" {
  value = clonefleet_vm.app_fork.forked_from
}

output "app_fork_disk_chain" {
  value = clonefleet_vm.app_fork.disk_chain
}

output "app_host_id" {
  value = clonefleet_vm.app.host_id
}

output "local_host_status" {
  value = data.clonefleet_host.local.status
}

output "app_parent_ram_path" {
  value = clonefleet_instant_clone_parent.app.ram_path
}

output "app_clone_ids" {
  value = clonefleet_vm.app_clone[*].id
}

output "app_snapshot_frozen_disk_path" {
  value = clonefleet_snapshot.app.frozen_disk_path
}
