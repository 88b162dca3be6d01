# A VM is imported by its id (clonefleet vm ls).
terraform import clonefleet_vm.scratch vm-8d41f07a2c9b3e15
