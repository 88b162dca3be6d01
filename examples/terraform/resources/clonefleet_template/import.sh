# A template is imported by its id (clonefleet template ls).
terraform import clonefleet_template.debian tpl-8e13bd64bd7d83b0
