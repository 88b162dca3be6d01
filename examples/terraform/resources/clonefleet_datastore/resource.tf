resource "clonefleet_datastore" "fast" {
  name = "fast"
  path = "/srv/clonefleet/fast"
}
