#!/usr/bin/env bash
# Installs what npm cannot from Debian: QEMU's tools, PostgreSQL (the tests' throwaway inventory
# server), iproute2 (the namespace cluster) and Chromium (the console test). As root it installs what is missing;
# otherwise it prints the exact command to run and fails, so nothing runs half-equipped.
set -euo pipefail

need=()
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
command -v qemu-io >/dev/null 2>&1 || need+=(qemu-utils)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v mke2fs >/dev/null 2>&1 || need+=(e2fsprogs)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
# The namespace cluster (scripts/cluster.sh, test/cluster/) makes namespaces, veth pairs and a bridge.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The console's browser test drives Debian's Chromium (playwright-core, no bundled browser).
[ -x /usr/bin/chromium ] || need+=(chromium)
# De-duplicate (qemu-utils may be listed twice).
mapfile -t need < <(printf '%s\n' "${need[@]+"${need[@]}"}" | awk 'NF && !seen[$0]++')

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${need[*]}"
if [ "$(id -u)" -eq 0 ]; then
  echo "setup: installing ${need[*]} from Debian" >&2
  bash -c "$cmd" >&2
else
  echo "setup: clonefleet needs ${need[*]}. Run as root:" >&2
  echo "  sudo bash -c '$cmd'" >&2
  exit 1
fi
