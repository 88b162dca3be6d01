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

data "clonefleet_disk_chain" "tiny" {
  path = clonefleet_template.tiny.disk_path
}

output "template_content_id" {
  value = clonefleet_template.tiny.content_id
}

output "template_chain" {
  value = data.clonefleet_disk_chain.tiny.layers
}
