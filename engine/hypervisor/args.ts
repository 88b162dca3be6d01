/**
 * The QEMU command line of a VM, built from a VmSpec without any I/O. Everything a later
 * caller needs to find the VM again (QMP socket, pidfile, serial log, guest channel sockets)
 * lives in the VM's state folder at the paths `stateFiles` names.
 */
import * as path from "node:path";
import type { Accel } from "./accel";
import { VmSpecError } from "./errors";
import { MAX_UNIX_SOCKET_PATH_BYTES } from "./line-socket";

/** The emulator binary, looked up on PATH. */
export const QEMU_SYSTEM = "qemu-system-x86_64";

/** Name of the guest notification port (docs/guest-notify-protocol.md). */
export const NOTIFY_PORT_NAME = "org.clonefleet.notify.0";

/** Name of the test guest's agent port. */
export const AGENT_PORT_NAME = "org.clonefleet.agent.0";

/** The fw_cfg file carrying a VM's identity; read live by the guest, so an instant clone sees its own. */
export const IDENTITY_FW_CFG_NAME = "opt/org.clonefleet/identity";

/**
 * The identity's fixed width in fw_cfg. The guest learns each fw_cfg file's size once, at boot;
 * a clone of that guest must present the same size, so values are padded with spaces to this.
 */
export const IDENTITY_BYTES = 64;

/** One layer below a disk's active layer. */
export interface DiskLayerRef {
  path: string;
  format?: "qcow2" | "raw";
  /**
   * Open this layer read-only outright (file and format node). Needed where another QEMU
   * shares the layer as its backing file (forks): after an incoming migration QEMU 7.2
   * reactivates an auto-read-only backing layer read-write and takes its write lock. A
   * read-only layer cannot be the base of a commit job.
   */
  readOnly?: boolean;
}

/** A virtio-blk disk on its active (writable) layer. */
export interface DiskSpec {
  /** Absolute path of the active layer. */
  path: string;
  format?: "qcow2" | "raw";
  /**
   * Node name of the active layer's format node (default `disk<i>`); its file node is
   * `<nodeName>-file`. Block jobs address the disk by this name.
   */
  nodeName?: string;
  readOnly?: boolean;
  /**
   * The layers below the active one, top-down. When given, each is declared as a named node
   * (`<nodeName>-b1` is the active layer's backing file, `-b2` the next…) so block jobs can
   * name them; when absent QEMU opens the chain from the images' own backing references
   * (with generated node names).
   */
  backingChain?: DiskLayerRef[];
  /** Serial number the guest sees (up to 20 characters). */
  serial?: string;
}

/** Direct kernel boot. */
export interface KernelBoot {
  kernel: string;
  initrd?: string;
  cmdline?: string;
}

/**
 * Guest RAM in a file (`memory-backend-file`). `share: true` writes the guest's RAM into the
 * file (an instant-clone parent, or a VM whose fork must be short); `share: false` maps the
 * file privately, copy-on-write (an instant clone of that parent).
 */
export interface MemoryFile {
  path: string;
  share: boolean;
}

/** A virtio-serial port on a unix socket chardev (QEMU listens, the engine connects). */
export interface SerialPortSpec {
  /** The port name the guest sees, e.g. `org.clonefleet.notify.0`. */
  name: string;
  /** Socket path; default `<stateDir>/<short name>.sock` (see `portSocketPath`). */
  socketPath?: string;
}

/** Everything needed to start one QEMU process for a VM. */
export interface VmSpec {
  /** Shown by QEMU (`-name`) and in process lists. */
  name: string;
  /** Absolute path of the VM's state folder. */
  stateDir: string;
  accel: Accel;
  /** Machine type; default `q35`. Record the resolved one with a parent so clones match it. */
  machine?: string;
  /** CPU model; default QEMU's (note: `host` does not start under this project's PVM KVM). */
  cpuModel?: string;
  memoryMb: number;
  vcpus: number;
  disks?: DiskSpec[];
  kernel?: KernelBoot;
  memoryFile?: MemoryFile;
  /** `defer`: start waiting for `migrate-incoming` (a state load or a live migration target). */
  incoming?: "defer";
  /** Stay paused after start or after an incoming migration (`-S`) until `cont`. */
  startPaused?: boolean;
  serialPorts?: SerialPortSpec[];
  /** A per-VM value the guest reads through fw_cfg (printable ASCII, at most 64 bytes). */
  identity?: string;
  /** Exit instead of rebooting when the guest reboots. */
  noReboot?: boolean;
  /** Appended verbatim; for experiments, not for the product. */
  extraArgs?: string[];
}

/** Paths inside a VM's state folder. */
export interface StateFiles {
  stateDir: string;
  qmpSocket: string;
  pidFile: string;
  serialLog: string;
  /** QEMU's own stdout and stderr. */
  qemuLog: string;
  /** The spec and argv of the running process, written by `startVm` for `reattach`. */
  specFile: string;
}

/** The paths of a state folder's files. */
export function stateFiles(stateDir: string): StateFiles {
  return {
    stateDir,
    qmpSocket: path.join(stateDir, "qmp.sock"),
    pidFile: path.join(stateDir, "qemu.pid"),
    serialLog: path.join(stateDir, "serial.log"),
    qemuLog: path.join(stateDir, "qemu.log"),
    specFile: path.join(stateDir, "vm.json"),
  };
}

/** The socket path of a virtio-serial port: its own, or `<stateDir>/<name without org.clonefleet.>.sock`. */
export function portSocketPath(stateDir: string, port: SerialPortSpec): string {
  if (port.socketPath) return port.socketPath;
  const short = port.name.replace(/^org\.clonefleet\./, "").replace(/[^A-Za-z0-9._-]/g, "_");
  return path.join(stateDir, `${short}.sock`);
}

/** Escapes a value for QEMU's comma-separated option syntax (a comma is written twice). */
export function optValue(value: string): string {
  return value.replace(/,/g, ",,");
}

/** The identity as fw_cfg carries it: padded with spaces to IDENTITY_BYTES. */
export function paddedIdentity(identity: string): string {
  return identity.padEnd(IDENTITY_BYTES, " ");
}

function checkPath(field: string, value: string | undefined, opts: { socket?: boolean } = {}): string {
  if (typeof value !== "string" || value.length === 0) throw new VmSpecError(field, "must be a non-empty path");
  if (!path.isAbsolute(value)) throw new VmSpecError(field, `must be an absolute path, got ${JSON.stringify(value)}`);
  if (/[\0\n\r]/.test(value)) throw new VmSpecError(field, "must not contain NUL or line breaks");
  if (opts.socket && Buffer.byteLength(value) > MAX_UNIX_SOCKET_PATH_BYTES) {
    throw new VmSpecError(field, `unix socket path is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes (use a shorter state folder): ${value}`);
  }
  return value;
}

function checkInt(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new VmSpecError(field, `must be an integer from ${min} to ${max}, got ${value}`);
  }
  return value;
}

const NODE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,30}$/;
const PORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const IDENTITY = /^[\x21-\x7e]*$/;

/** Checks a spec and throws VmSpecError naming the first bad field; `buildQemuArgs` calls it. */
export function validateVmSpec(spec: VmSpec): void {
  if (typeof spec.name !== "string" || spec.name.length === 0 || spec.name.length > 200 || [...spec.name].some((c) => c.charCodeAt(0) < 0x20)) {
    throw new VmSpecError("name", "must be 1 to 200 printable characters");
  }
  checkPath("stateDir", spec.stateDir);
  if (spec.accel !== "kvm" && spec.accel !== "tcg") throw new VmSpecError("accel", `must be kvm or tcg, got ${String(spec.accel)}`);
  checkInt("memoryMb", spec.memoryMb, 16, 1024 * 1024);
  checkInt("vcpus", spec.vcpus, 1, 255);
  if (spec.machine !== undefined && !/^[a-z0-9][a-z0-9.-]*$/.test(spec.machine)) throw new VmSpecError("machine", "is not a machine type name");
  if (spec.cpuModel !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(spec.cpuModel)) throw new VmSpecError("cpuModel", "is not a CPU model name");
  const names = new Set<string>();
  (spec.disks ?? []).forEach((d, i) => {
    const f = `disks[${i}]`;
    checkPath(`${f}.path`, d.path);
    const node = d.nodeName ?? `disk${i}`;
    if (!NODE_NAME.test(node)) throw new VmSpecError(`${f}.nodeName`, "must start with a letter and hold at most 31 letters, digits, - or _");
    if (names.has(node)) throw new VmSpecError(`${f}.nodeName`, `${node} is used twice`);
    names.add(node);
    if (d.format !== undefined && d.format !== "qcow2" && d.format !== "raw") throw new VmSpecError(`${f}.format`, "must be qcow2 or raw");
    if (d.serial !== undefined && !/^[A-Za-z0-9._-]{1,20}$/.test(d.serial)) throw new VmSpecError(`${f}.serial`, "must be 1 to 20 letters, digits, . _ or -");
    (d.backingChain ?? []).forEach((b, j) => {
      checkPath(`${f}.backingChain[${j}].path`, b.path);
      if (b.format !== undefined && b.format !== "qcow2" && b.format !== "raw") throw new VmSpecError(`${f}.backingChain[${j}].format`, "must be qcow2 or raw");
      if (b.format === "raw" && j < (d.backingChain?.length ?? 0) - 1) throw new VmSpecError(`${f}.backingChain[${j}].format`, "a raw layer can only be the base");
    });
    if (d.backingChain?.length && d.format === "raw") throw new VmSpecError(`${f}.format`, "a raw image has no backing file");
  });
  if (spec.kernel) {
    checkPath("kernel.kernel", spec.kernel.kernel);
    if (spec.kernel.initrd !== undefined) checkPath("kernel.initrd", spec.kernel.initrd);
    if (spec.kernel.cmdline !== undefined && /[\0\n\r]/.test(spec.kernel.cmdline)) throw new VmSpecError("kernel.cmdline", "must be one line");
  }
  if (spec.memoryFile) checkPath("memoryFile.path", spec.memoryFile.path);
  if (spec.incoming !== undefined && spec.incoming !== "defer") throw new VmSpecError("incoming", "must be defer when set");
  const files = stateFiles(spec.stateDir);
  checkPath("stateDir", files.qmpSocket, { socket: true });
  const portNames = new Set<string>();
  const sockets = new Set<string>();
  (spec.serialPorts ?? []).forEach((p, i) => {
    if (!PORT_NAME.test(p.name)) throw new VmSpecError(`serialPorts[${i}].name`, "must be letters, digits, . _ or - (at most 100)");
    if (portNames.has(p.name)) throw new VmSpecError(`serialPorts[${i}].name`, `${p.name} is used twice`);
    portNames.add(p.name);
    const sock = checkPath(`serialPorts[${i}].socketPath`, portSocketPath(spec.stateDir, p), { socket: true });
    if (sockets.has(sock) || sock === files.qmpSocket) throw new VmSpecError(`serialPorts[${i}].socketPath`, `${sock} is used twice`);
    sockets.add(sock);
  });
  if (spec.identity !== undefined) {
    if (!IDENTITY.test(spec.identity) || Buffer.byteLength(spec.identity) > IDENTITY_BYTES) {
      throw new VmSpecError("identity", `must be at most ${IDENTITY_BYTES} printable ASCII characters without spaces`);
    }
  }
}

function blockdevArgs(d: DiskSpec, i: number): string[] {
  const node = d.nodeName ?? `disk${i}`;
  const args: string[] = [];
  const chain = d.backingChain ?? [];
  // Declare the chain base first, so every overlay can name its backing node.
  for (let j = chain.length - 1; j >= 0; j--) {
    const layer = chain[j];
    const name = `${node}-b${j + 1}`;
    const below = j + 1 < chain.length ? `${node}-b${j + 2}` : null;
    // No explicit read-only on backing layers: QEMU refuses to reopen a node read-write whose
    // read-only was set by the user ("Block node is read-only"), and a commit job must reopen
    // its base so. Nothing writes to them unless a job asks: the overlay takes no write
    // permission on its backing node, and auto-read-only keeps the file opened read-only
    // until a writer needs it.
    const ro = layer.readOnly === true ? { "read-only": true } : { "auto-read-only": true };
    args.push("-blockdev", JSON.stringify({ driver: "file", filename: layer.path, "node-name": `${name}-file`, ...ro }));
    const format: Record<string, unknown> = { driver: layer.format ?? "qcow2", file: `${name}-file`, "node-name": name };
    if (layer.readOnly === true) format["read-only"] = true;
    if ((layer.format ?? "qcow2") === "qcow2") format.backing = below;
    args.push("-blockdev", JSON.stringify(format));
  }
  const readOnly = d.readOnly === true;
  args.push("-blockdev", JSON.stringify({ driver: "file", filename: d.path, "node-name": `${node}-file`, "read-only": readOnly }));
  const top: Record<string, unknown> = { driver: d.format ?? "qcow2", file: `${node}-file`, "node-name": node, "read-only": readOnly };
  if (chain.length > 0) top.backing = `${node}-b1`;
  args.push("-blockdev", JSON.stringify(top));
  let device = `virtio-blk-pci,drive=${node},id=${node}-dev`;
  // Lets in-process users of the disk's node write beside the guest: HMP `qemu-io <node>` and
  // block jobs. Only for qcow2: its metadata keeps write on the file itself unshared, so other
  // processes stay locked out; a raw node would pass the sharing down to the file.
  if ((d.format ?? "qcow2") === "qcow2" && !readOnly) device += ",share-rw=on";
  if (d.serial) device += `,serial=${d.serial}`;
  args.push("-device", device);
  return args;
}

/**
 * The argv (without the binary) that starts the VM of `spec`: q35, `-nodefaults`, no display,
 * QMP, serial log and pidfile in the state folder, and the disks, kernel, memory file,
 * guest ports and identity the spec asks for. Pure; throws VmSpecError for a bad spec.
 */
export function buildQemuArgs(spec: VmSpec): string[] {
  validateVmSpec(spec);
  const files = stateFiles(spec.stateDir);
  const machine = spec.machine ?? "q35";
  const args: string[] = [
    "-name",
    optValue(spec.name),
    "-no-user-config",
    // No default VGA, NIC or serial: the VGA alone adds 16 MiB of vram to every saved state.
    "-nodefaults",
    "-display",
    "none",
    "-msg",
    "timestamp=on",
  ];
  if (spec.memoryFile) {
    args.push("-machine", `${machine},memory-backend=cf-ram`);
    args.push(
      "-object",
      JSON.stringify({
        "qom-type": "memory-backend-file",
        id: "cf-ram",
        size: spec.memoryMb * 1024 * 1024,
        "mem-path": spec.memoryFile.path,
        share: spec.memoryFile.share,
      }),
    );
  } else {
    args.push("-machine", machine);
  }
  args.push("-accel", spec.accel);
  if (spec.cpuModel) args.push("-cpu", spec.cpuModel);
  args.push("-m", `${spec.memoryMb}M`, "-smp", String(spec.vcpus));
  args.push("-chardev", `socket,id=cf-qmp,path=${optValue(files.qmpSocket)},server=on,wait=off`, "-mon", "chardev=cf-qmp,mode=control");
  args.push("-pidfile", files.pidFile);
  args.push("-chardev", `file,id=cf-serial0,path=${optValue(files.serialLog)}`, "-serial", "chardev:cf-serial0");
  (spec.disks ?? []).forEach((d, i) => args.push(...blockdevArgs(d, i)));
  if (spec.kernel) {
    args.push("-kernel", spec.kernel.kernel);
    if (spec.kernel.initrd) args.push("-initrd", spec.kernel.initrd);
    if (spec.kernel.cmdline !== undefined) args.push("-append", spec.kernel.cmdline);
  }
  const ports = spec.serialPorts ?? [];
  if (ports.length > 0) {
    args.push("-device", "virtio-serial-pci,id=cf-vser0");
    ports.forEach((p, i) => {
      args.push("-chardev", `socket,id=cf-port${i},path=${optValue(portSocketPath(spec.stateDir, p))},server=on,wait=off`);
      args.push("-device", `virtserialport,bus=cf-vser0.0,chardev=cf-port${i},id=cf-vport${i},name=${p.name}`);
    });
  }
  if (spec.identity !== undefined) {
    args.push("-fw_cfg", `name=${IDENTITY_FW_CFG_NAME},string=${optValue(paddedIdentity(spec.identity))}`);
  }
  if (spec.noReboot) args.push("-no-reboot");
  if (spec.startPaused) args.push("-S");
  if (spec.incoming) args.push("-incoming", spec.incoming);
  if (spec.extraArgs) args.push(...spec.extraArgs);
  return args;
}
