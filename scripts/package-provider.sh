#!/usr/bin/env bash
# Lays the Terraform provider out for Terraform and OpenTofu to find, from the built tree:
#   dist/terraform/dev/terraform-provider-clonefleet                  (for dev_overrides)
#   dist/terraform/mirror/registry.terraform.io/clonefleet/clonefleet/VERSION/linux_amd64/
#                                    terraform-provider-clonefleet_vVERSION  (filesystem mirror)
# Each is a small executable that runs this checkout's provider bundle (dist/provider-bundle, made
# by `npm run build`: one file and its V8 code cache, which start much faster than dist/provider/)
# with this machine's node.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="$(node -p "require('$root/package.json').version")"
launcher="$root/dist/provider-bundle/terraform-provider-clonefleet.js"
[ -f "$launcher" ] || { echo "package-provider: run 'npm run build' first (it makes $launcher)" >&2; exit 1; }
node_bin="$(command -v node)"

write_launcher() {
  mkdir -p "$(dirname "$1")"
  cat > "$1" <<LAUNCHER
#!/bin/sh
exec "$node_bin" "$launcher" "\$@"
LAUNCHER
  chmod 0755 "$1"
}

dev="$root/dist/terraform/dev/terraform-provider-clonefleet"
mirror_dir="$root/dist/terraform/mirror/registry.terraform.io/clonefleet/clonefleet/$version/linux_amd64"
write_launcher "$dev"
write_launcher "$mirror_dir/terraform-provider-clonefleet_v$version"

cat <<MSG
dev_overrides: put this in ~/.terraformrc (or the file named by TF_CLI_CONFIG_FILE):
  provider_installation {
    dev_overrides { "clonefleet/clonefleet" = "$root/dist/terraform/dev" }
    direct {}
  }
filesystem mirror (terraform init works offline):
  provider_installation {
    filesystem_mirror { path = "$root/dist/terraform/mirror", include = ["clonefleet/clonefleet"] }
    direct { exclude = ["clonefleet/clonefleet"] }
  }
MSG
