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
