# The first engine is host local; another engine started on the same state folder with
# --host-name b joins as host b.
data "clonefleet_host" "b" {
  name = "b"
}

# A running VM placed by host id: changing host_id live-migrates it in place.
resource "clonefleet_vm" "app" {
  name        = "app"
  template_id = clonefleet_template.debian.id
  power_state = "running"
  host_id     = data.clonefleet_host.b.id
}

output "host_b" {
  value = "${data.clonefleet_host.b.status} since ${data.clonefleet_host.b.last_heartbeat_at}, ${data.clonefleet_host.b.vm_count} VMs"
}
