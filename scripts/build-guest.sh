#!/usr/bin/env bash
# Builds the clonefleet test guest offline from Debian packages only: the cloud kernel and a
# static busybox in a gzip'd initramfs (booted with direct kernel boot), plus an ext4 root disk
# as qcow2. Output, cached under .cache/guest/ (never committed):
#   vmlinuz  initrd.gz  root.qcow2  manifest.json
# The manifest is written last, so its presence means a complete build. Running again is a
# no-op while the recipe (this script and scripts/guest/init.sh) is unchanged; --force rebuilds.
#
# Exit status: 0 built or up to date; 2 cannot build on this machine (not root, no network,
# missing host tools) — tests treat that as "skip"; 1 anything else (a real failure).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
out="${CLONEFLEET_GUEST_DIR:-$repo/.cache/guest}"
init_src="$here/guest/init.sh"
force=0
[ "${1:-}" = "--force" ] && force=1

say() { echo "build-guest: $*" >&2; }
cannot() { say "cannot build the test guest here: $*"; exit 2; }

recipe="$(cat "$0" "$init_src" | sha256sum | cut -d' ' -f1)"

# One build at a time (test files run in parallel); a waiting caller then finds it up to date.
mkdir -p "$out" 2>/dev/null || cannot "cannot create $out"
exec 9>"$out/.lock"
flock 9

if [ $force -eq 0 ] && [ -f "$out/manifest.json" ] \
  && grep -q "\"recipe_sha256\": \"$recipe\"" "$out/manifest.json" \
  && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.gz" ] && [ -f "$out/root.qcow2" ]; then
  say "up to date: $out"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || cannot "apt-get download and mknod need root (run: sudo bash $0)"
for tool in apt-get apt-cache dpkg-deb mke2fs qemu-img gzip sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || cannot "missing host tool $tool (Debian: apt-get install qemu-utils e2fsprogs)"
done

work="$(mktemp -d "$out/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Empty package lists (a fresh container) mean apt knows no package: fetch them once.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  say "package lists are empty: running apt-get update"
  apt-get update -qq >&2 || cannot "apt-get update failed (no network?)"
fi

# The current cloud kernel is whatever the meta-package points at (MACHINE-NOTES: 6.1 cloud).
kpkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
[ -n "$kpkg" ] || kpkg="$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' | awk '{print $1}' | sort -V | tail -1)"
[ -n "$kpkg" ] || cannot "no linux-image-*-cloud-amd64 package known to apt"
kver="$(apt-cache show "$kpkg" | awk '/^Version:/{print $2; exit}')"
bver="$(apt-cache show busybox-static | awk '/^Version:/{print $2; exit}')"
[ -n "$bver" ] || cannot "busybox-static is not known to apt"

# Downloaded packages are kept, so a change to the recipe alone rebuilds offline.
debs="$out/debs"
mkdir -p "$debs"
deb_of() { ls "$debs/$1_"*.deb 2>/dev/null | grep -F "_$(echo "$2" | sed 's/:/%3a/')_" | head -1; }
want=()
[ -n "$(deb_of "$kpkg" "$kver")" ] || want+=("$kpkg")
[ -n "$(deb_of busybox-static "$bver")" ] || want+=(busybox-static)
if [ ${#want[@]} -gt 0 ]; then
  say "downloading ${want[*]} (kernel $kpkg $kver, busybox-static $bver)"
  # The sandbox user cannot write into our root-owned folder; we only download, so run as root.
  (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "${want[@]}" >&2) \
    || cannot "apt-get download failed (no network or no Debian mirror reachable)"
fi
kdeb="$(deb_of "$kpkg" "$kver" || true)"
bdeb="$(deb_of busybox-static "$bver" || true)"
[ -n "$kdeb" ] && [ -n "$bdeb" ] || { say "downloaded packages not found in $debs"; exit 1; }

dpkg-deb -x "$kdeb" "$work/kernel"
dpkg-deb -x "$bdeb" "$work/busybox"
kabi="$(ls "$work/kernel/lib/modules")"
moddir="$work/kernel/lib/modules/$kabi/kernel"

# initramfs tree: static busybox with one symlink per applet, flat .ko files, /dev/console.
root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,run,mnt,tmp,lib/modules,etc}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
         virtio_blk virtio_console qemu_fw_cfg button evdev)
for m in "${modules[@]}"; do
  f="$(find "$moddir" -name "$m.ko" -print -quit)"
  [ -n "$f" ] || { say "module $m.ko is missing from $kpkg"; exit 1; }
  cp "$f" "$root/lib/modules/"
done
# The kernel opens /dev/console before /init runs, i.e. before devtmpfs is mounted.
mknod -m 600 "$root/dev/console" c 5 1
install -m 755 "$init_src" "$root/init"
echo "clonefleet-test-guest" > "$root/etc/hostname"

# Packed with the packaged busybox's own cpio: the host has none.
(cd "$root" && find . | "$root/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -9 -n > "$work/initrd.gz"

# Root disk without mounting anything: ext4 filled from a folder, then qcow2.
disk="$work/disk"
mkdir -p "$disk/clonefleet"
echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) kernel=$kpkg" > "$disk/clonefleet/image"
echo "none" > "$disk/clonefleet/marker"
mke2fs -q -F -t ext4 -L cfroot -d "$disk" "$work/root.img" 64M >/dev/null
qemu-img convert -q -f raw -O qcow2 "$work/root.img" "$work/root.qcow2"

cp "$work/kernel/boot/vmlinuz-$kabi" "$work/vmlinuz"

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
for f in vmlinuz initrd.gz root.qcow2; do
  mv -f "$work/$f" "$out/$f"
done
cat > "$work/manifest.json" <<EOF
{
  "format": 1,
  "recipe_sha256": "$recipe",
  "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "kernel_package": "$kpkg",
  "kernel_package_version": "$kver",
  "kernel_release": "$kabi",
  "busybox_package_version": "$bver",
  "modules": [$(printf '"%s",' "${modules[@]}" | sed 's/,$//')],
  "cmdline": "console=ttyS0 loglevel=1",
  "ready_line": "CLONEFLEET-GUEST-READY",
  "ports": { "agent": "org.clonefleet.agent.0", "notify": "org.clonefleet.notify.0" },
  "fw_cfg_identity": "opt/org.clonefleet/identity",
  "accel": "tcg",
  "memory_mb": 256,
  "files": {
    "vmlinuz": { "path": "vmlinuz", "bytes": $(size "$out/vmlinuz"), "sha256": "$(sha "$out/vmlinuz")" },
    "initrd": { "path": "initrd.gz", "bytes": $(size "$out/initrd.gz"), "sha256": "$(sha "$out/initrd.gz")" },
    "root_disk": { "path": "root.qcow2", "format": "qcow2", "bytes": $(size "$out/root.qcow2"), "sha256": "$(sha "$out/root.qcow2")" }
  }
}
EOF
mv -f "$work/manifest.json" "$out/manifest.json"
say "built $out (kernel $kabi, initrd $(size "$out/initrd.gz") bytes)"
