resource "clonefleet_datastore" "bulk" {
  name = "bulk"
  path = "/srv/clonefleet/bulk"
}

resource "clonefleet_disk_pool" "debian_bulk" {
  template_id  = clonefleet_template.debian.id
  datastore_id = clonefleet_datastore.bulk.id
  size         = 8
}

# Sixteen clones named web-1 … web-16 spread over two datastores, taking ready pool copies
# first (the pools are declared as dependencies so that they are full before the fleet is made).
# Growing adds members, shrinking removes the newest; a member lost outside Terraform is made
# again by the next apply.
resource "clonefleet_fleet" "web" {
  template_id   = clonefleet_template.debian.id
  size          = 16
  name_prefix   = "web"
  datastore_ids = [clonefleet_datastore.fast.id, clonefleet_datastore.bulk.id]

  depends_on = [clonefleet_disk_pool.debian_fast, clonefleet_disk_pool.debian_bulk]
}

output "web_provisioned_by" {
  value = { for m in clonefleet_fleet.web.vms : m.name => m.provisioned_by }
}
