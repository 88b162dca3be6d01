# Free and total space of a datastore, measured at every plan. It moves with every write, so it
# is read here instead of being kept in the clonefleet_datastore resource's state.
data "clonefleet_datastore" "fast" {
  id = clonefleet_datastore.fast.id
}

output "fast_free_gib" {
  value = floor(data.clonefleet_datastore.fast.free_bytes / 1073741824)
}
