data "clonefleet_disk_chain" "debian" {
  path = clonefleet_template.debian.disk_path
}

output "debian_layers" {
  value = [for l in data.clonefleet_disk_chain.debian.layers : "${l.path} ${l.content_id}"]
}
