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

# An instant clone of a parent (clonefleet_instant_clone_parent): running at once, no boot.
resource "clonefleet_vm" "clone" {
  name             = "clone"
  instant_clone_of = clonefleet_instant_clone_parent.base.id
  power_state      = "running"
}
