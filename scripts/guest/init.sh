#!/bin/sh
# /init of the clonefleet test guest (PID 1 in a busybox initramfs; see scripts/build-guest.sh).
#
# Boot: mount proc/sys/devtmpfs, load the virtio modules, wait for the virtio-serial ports and
# the disk, mount /dev/vda and write a marker, start the agent and the notify handler, print
# CLONEFLEET-GUEST-READY on the console (ttyS0), then idle forever (PID 1 must not exit).
#
# Kernel command line parameters read here:
#   cf.identity=VALUE        identity reported when fw_cfg carries none (cold boots only)
#   cf.notify_work_ms=N      simulated work before a notice is acknowledged (default 0)
#   cf.notify_silent=1       never acknowledge notices (the host's deadline then applies)
#   cf.poll_ms=N             how often an idle port is polled for a host connection (default 50)

PATH=/bin
export PATH

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /mnt /dev/input
# Only our own lines on the console: kernel chatter would interleave with them.
echo 1 > /proc/sys/kernel/printk

log() { echo "$*" > /dev/console; }

# Order matters: there is no modules.dep in the initramfs and no modprobe to resolve it.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
         virtio_blk virtio_console qemu_fw_cfg button evdev; do
  [ -f "/lib/modules/$m.ko" ] && insmod "/lib/modules/$m.ko" 2>/dev/null
done

WORK_MS=0
SILENT=0
CMDLINE_ID=
POLL_MS=50
for w in $(cat /proc/cmdline); do
  case "$w" in
    cf.notify_work_ms=*) WORK_MS="${w#*=}" ;;
    cf.notify_silent=*) SILENT="${w#*=}" ;;
    cf.identity=*) CMDLINE_ID="${w#*=}" ;;
    cf.poll_ms=*) POLL_MS="${w#*=}" ;;
  esac
done
POLL_US=$((POLL_MS * 1000))

# True when a virtio device of this id (2 = block, 3 = console) exists.
has_virtio() {
  for d in /sys/bus/virtio/devices/*; do
    [ -f "$d/device" ] && [ "$(cat "$d/device")" = "$1" ] && return 0
  done
  return 1
}

# Prints the /dev node of the virtio-serial port with this name.
port_dev() {
  for d in /sys/class/virtio-ports/*; do
    [ -f "$d/name" ] || continue
    if [ "$(cat "$d/name")" = "$1" ] && [ -c "/dev/${d##*/}" ]; then
      echo "/dev/${d##*/}"
      return 0
    fi
  done
  return 1
}

# Ports appear late (after the control queue runs; seconds late under TCG on a loaded host),
# so wait for them, bounded: up to 6 s, or 2.5 s once one of the two has appeared.
AGENT_DEV=
NOTIFY_DEV=
if has_virtio 0x0003; then
  i=0
  while [ $i -lt 120 ]; do
    AGENT_DEV=$(port_dev org.clonefleet.agent.0)
    NOTIFY_DEV=$(port_dev org.clonefleet.notify.0)
    [ -n "$AGENT_DEV" ] && [ -n "$NOTIFY_DEV" ] && break
    # One port of the two may not be configured: stop waiting once the rest has settled.
    if [ $i -ge 50 ] && { [ -n "$AGENT_DEV" ] || [ -n "$NOTIFY_DEV" ]; }; then break; fi
    usleep 50000
    i=$((i + 1))
  done
fi

FWID=/sys/firmware/qemu_fw_cfg/by_name/opt/org.clonefleet/identity/raw
# The identity: fw_cfg (read live from the device, so an instant clone sees its own value),
# else one set over the agent, else the kernel command line.
identity() {
  v=
  [ -r "$FWID" ] && v=$(tr -d '\000' < "$FWID" | sed 's/[[:space:]]*$//')
  [ -z "$v" ] && [ -r /run/identity ] && v=$(cat /run/identity)
  [ -z "$v" ] && v=$CMDLINE_ID
  echo "${v:-none}"
}

DISK=no
if has_virtio 0x0002; then
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 40 ]; do usleep 50000; i=$((i + 1)); done
  if [ -b /dev/vda ] && mount -t ext4 /dev/vda /mnt 2>/dev/null; then
    DISK=yes
    mkdir -p /mnt/clonefleet
    n=$(cat /mnt/clonefleet/boots 2>/dev/null)
    n=$(( ${n:-0} + 1 ))
    echo "$n" > /mnt/clonefleet/boots
    echo "boot=$n identity=$(identity)" > /mnt/clonefleet/marker
    sync
  else
    log "CF-GUEST disk /dev/vda not mounted"
  fi
fi

# Extracts a field from one of the host's JSON lines. The host writes compact JSON with "id"
# first and "detail" last (docs/guest-notify-protocol.md), so cutting "detail" off keeps its
# contents from being mistaken for the protocol's own members. A real guest uses a JSON parser.
json_str() {
  head="${2%%,\"detail\":*}"
  echo "$head" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

json_num() {
  head="${2%%,\"detail\":*}"
  echo "$head" | sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p"
}

# Request "<id> <command> [argument]" -> response "<id> ok [value]" or "<id> err <reason>".
agent_loop() {
  exec 3<>"$1"
  while :; do
    # read fails at once while no host is connected; poll instead of reopening, because every
    # open/close of the port is a VSERPORT_CHANGE event on the host's QMP monitor.
    if read -r rid cmd arg <&3; then
      case "$cmd" in
        ping) out="ok pong" ;;
        identity) out="ok $(identity)" ;;
        set-identity) echo "$arg" > /run/identity; out="ok" ;;
        read-marker)
          if [ "$DISK" = yes ]; then out="ok $(cat /mnt/clonefleet/marker 2>/dev/null)"; else out="err no-disk"; fi ;;
        write-marker)
          if [ "$DISK" = yes ]; then echo "$arg" > /mnt/clonefleet/marker && sync && out="ok"; else out="err no-disk"; fi ;;
        set-ram-marker) echo "$arg" > /run/ram-marker; out="ok" ;;
        read-ram-marker) out="ok $(cat /run/ram-marker 2>/dev/null)" ;;
        uptime) out="ok $(cut -d' ' -f1 /proc/uptime)" ;;
        # The guest's clocks: uptime (s), system wall time and the RTC's (s since the epoch).
        clock) out="ok $(cut -d' ' -f1 /proc/uptime) $(date +%s) $(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null || echo none)" ;;
        poweroff) echo "$rid ok" >&3; power_off ;;
        "") continue ;;
        *) out="err unknown-command" ;;
      esac
      echo "$rid $out" >&3
    else
      usleep "$POLL_US"
    fi
  done
}

# The guest side of docs/guest-notify-protocol.md.
notify_loop() {
  exec 4<>"$1"
  while :; do
    if read -r line <&4; then
      id=$(json_str id "$line")
      [ -n "$id" ] || continue
      kind=$(json_str kind "$line")
      phase=$(json_str phase "$line")
      log "CF-NOTIFY notice id=$id kind=$kind phase=$phase line=$line"
      if [ "$phase" = complete ]; then
        log "CF-NOTIFY complete id=$id ref=$(json_str ref "$line") outcome=$(json_str outcome "$line")"
        continue
      fi
      [ "$WORK_MS" -gt 0 ] 2>/dev/null && usleep $((WORK_MS * 1000))
      if [ "$SILENT" = 1 ]; then
        log "CF-NOTIFY silent id=$id"
      else
        echo "{\"id\":\"$id\",\"ack\":true}" >&4
        log "CF-NOTIFY ack id=$id deadline_ms=$(json_num deadline_ms "$line")"
      fi
    else
      usleep "$POLL_US"
    fi
  done
}

power_off() {
  log "CF-GUEST powering off"
  sync
  [ "$DISK" = yes ] && umount /mnt
  poweroff -f
}

# ACPI power button (QMP system_powerdown) -> clean power-off: any event from the button's
# evdev node will do, so one read of one input_event (24 bytes on x86_64) is the trigger.
for d in /sys/class/input/input*; do
  [ "$(cat "$d/name" 2>/dev/null)" = "Power Button" ] || continue
  for e in "$d"/event*; do
    [ -e "$e" ] || continue
    dev="/dev/input/${e##*/}"
    i=0
    while [ ! -c "$dev" ] && [ $i -lt 20 ]; do usleep 10000; i=$((i + 1)); done
    ( dd if="$dev" bs=24 count=1 >/dev/null 2>&1 && power_off ) &
  done
done

[ -n "$AGENT_DEV" ] && agent_loop "$AGENT_DEV" &
[ -n "$NOTIFY_DEV" ] && notify_loop "$NOTIFY_DEV" &

ports=
[ -n "$AGENT_DEV" ] && ports="agent"
[ -n "$NOTIFY_DEV" ] && ports="${ports:+$ports,}notify"
log "CLONEFLEET-GUEST-READY identity=$(identity) disk=$DISK ports=${ports:-none} uptime=$(cut -d' ' -f1 /proc/uptime)"

while :; do sleep 3600; done
