import { IDENTITY_BYTES, buildQemuArgs, optValue, portSocketPath, stateFiles, type VmSpec } from "./args";
import { VmSpecError } from "./errors";

const base: VmSpec = { name: "vm1", stateDir: "/var/lib/cf/vm1", accel: "tcg", memoryMb: 128, vcpus: 1 };

/** The value following `flag` each time it occurs. */
function values(argv: string[], flag: string): string[] {
  const out: string[] = [];
  argv.forEach((a, i) => {
    if (a === flag) out.push(argv[i + 1]);
  });
  return out;
}

function specError(fn: () => unknown): VmSpecError {
  try {
    fn();
  } catch (err) {
    if (err instanceof VmSpecError) return err;
    throw err;
  }
  throw new Error("expected a VmSpecError");
}

describe("buildQemuArgs", () => {
  test("a minimal spec: q35, no defaults, no display, QMP, pidfile and serial log in the state folder", () => {
    const argv = buildQemuArgs(base);
    expect(argv).toEqual([
      "-name", "vm1",
      "-no-user-config",
      "-nodefaults",
      "-display", "none",
      "-msg", "timestamp=on",
      "-machine", "q35",
      "-accel", "tcg",
      "-m", "128M",
      "-smp", "1",
      "-chardev", "socket,id=cf-qmp,path=/var/lib/cf/vm1/qmp.sock,server=on,wait=off",
      "-mon", "chardev=cf-qmp,mode=control",
      "-pidfile", "/var/lib/cf/vm1/qemu.pid",
      "-chardev", "file,id=cf-serial0,path=/var/lib/cf/vm1/serial.log",
      "-serial", "chardev:cf-serial0",
    ]);
    expect(argv).not.toContain("-daemonize");
    expect(argv).not.toContain("-cpu");
  });

  test("accelerator, CPU model, memory and vCPUs go where QEMU expects them", () => {
    const argv = buildQemuArgs({ ...base, accel: "kvm", cpuModel: "qemu64", memoryMb: 2048, vcpus: 4 });
    expect(values(argv, "-accel")).toEqual(["kvm"]);
    expect(values(argv, "-cpu")).toEqual(["qemu64"]);
    expect(values(argv, "-m")).toEqual(["2048M"]);
    expect(values(argv, "-smp")).toEqual(["4"]);
  });

  test("a disk is a virtio-blk device on named -blockdev nodes (file node, then format node)", () => {
    const argv = buildQemuArgs({ ...base, disks: [{ path: "/ds/vm1/disk.qcow2" }] });
    const nodes = values(argv, "-blockdev").map((j) => JSON.parse(j));
    expect(nodes).toEqual([
      { driver: "file", filename: "/ds/vm1/disk.qcow2", "node-name": "disk0-file", "read-only": false },
      { driver: "qcow2", file: "disk0-file", "node-name": "disk0", "read-only": false },
    ]);
    expect(values(argv, "-device")).toEqual(["virtio-blk-pci,drive=disk0,id=disk0-dev,share-rw=on"]);
  });

  test("a declared backing chain gets a named node per layer, base first", () => {
    const argv = buildQemuArgs({
      ...base,
      disks: [{ path: "/ds/top.qcow2", nodeName: "root", serial: "cf-root", backingChain: [{ path: "/ds/mid.qcow2" }, { path: "/ds/base.raw", format: "raw" }] }],
    });
    const nodes = values(argv, "-blockdev").map((j) => JSON.parse(j));
    expect(nodes.map((n) => n["node-name"])).toEqual(["root-b2-file", "root-b2", "root-b1-file", "root-b1", "root-file", "root"]);
    expect(nodes[1]).toEqual({ driver: "raw", file: "root-b2-file", "node-name": "root-b2" });
    // Backing files open read-only until a job needs to write, and can be reopened for it.
    expect(nodes[2]).toEqual({ driver: "file", filename: "/ds/mid.qcow2", "node-name": "root-b1-file", "auto-read-only": true });
    expect(nodes[3]).toEqual({ driver: "qcow2", file: "root-b1-file", "node-name": "root-b1", backing: "root-b2" });
    expect(nodes[5]).toEqual({ driver: "qcow2", file: "root-file", "node-name": "root", "read-only": false, backing: "root-b1" });
    expect(values(argv, "-device")).toEqual(["virtio-blk-pci,drive=root,id=root-dev,share-rw=on,serial=cf-root"]);
  });

  test("several disks get disk0, disk1… unless named", () => {
    const argv = buildQemuArgs({ ...base, disks: [{ path: "/a.qcow2" }, { path: "/b.img", format: "raw", readOnly: true }] });
    const nodes = values(argv, "-blockdev").map((j) => JSON.parse(j));
    expect(nodes.map((n) => n["node-name"])).toEqual(["disk0-file", "disk0", "disk1-file", "disk1"]);
    expect(nodes[3]).toEqual({ driver: "raw", file: "disk1-file", "node-name": "disk1", "read-only": true });
    // Sharing writes is for qcow2 only: a raw node would pass it down to the file.
    expect(values(argv, "-device")).toEqual(["virtio-blk-pci,drive=disk0,id=disk0-dev,share-rw=on", "virtio-blk-pci,drive=disk1,id=disk1-dev"]);
  });

  test("direct kernel boot passes kernel, initrd and command line", () => {
    const argv = buildQemuArgs({ ...base, kernel: { kernel: "/g/vmlinuz", initrd: "/g/initrd.gz", cmdline: "console=ttyS0 cf.x=1" } });
    expect(values(argv, "-kernel")).toEqual(["/g/vmlinuz"]);
    expect(values(argv, "-initrd")).toEqual(["/g/initrd.gz"]);
    expect(values(argv, "-append")).toEqual(["console=ttyS0 cf.x=1"]);
  });

  test("file-backed memory: a memory-backend-file object as the machine's RAM, share on or off", () => {
    for (const share of [true, false]) {
      const argv = buildQemuArgs({ ...base, memoryMb: 256, memoryFile: { path: "/dev/shm/cf/ram", share } });
      expect(values(argv, "-machine")).toEqual(["q35,memory-backend=cf-ram"]);
      expect(JSON.parse(values(argv, "-object")[0])).toEqual({
        "qom-type": "memory-backend-file",
        id: "cf-ram",
        size: 256 * 1024 * 1024,
        "mem-path": "/dev/shm/cf/ram",
        share,
      });
      expect(values(argv, "-m")).toEqual(["256M"]);
    }
  });

  test("incoming defer, start paused and no-reboot", () => {
    const argv = buildQemuArgs({ ...base, incoming: "defer", startPaused: true, noReboot: true });
    expect(values(argv, "-incoming")).toEqual(["defer"]);
    expect(argv).toContain("-S");
    expect(argv).toContain("-no-reboot");
    expect(buildQemuArgs(base)).not.toContain("-incoming");
  });

  test("virtio-serial ports: one controller, a socket chardev and a named port each", () => {
    const argv = buildQemuArgs({ ...base, serialPorts: [{ name: "org.clonefleet.notify.0" }, { name: "org.clonefleet.agent.0", socketPath: "/run/a.sock" }] });
    expect(values(argv, "-device")).toEqual([
      "virtio-serial-pci,id=cf-vser0",
      "virtserialport,bus=cf-vser0.0,chardev=cf-port0,id=cf-vport0,name=org.clonefleet.notify.0",
      "virtserialport,bus=cf-vser0.0,chardev=cf-port1,id=cf-vport1,name=org.clonefleet.agent.0",
    ]);
    expect(values(argv, "-chardev")).toContain("socket,id=cf-port0,path=/var/lib/cf/vm1/notify.0.sock,server=on,wait=off");
    expect(values(argv, "-chardev")).toContain("socket,id=cf-port1,path=/run/a.sock,server=on,wait=off");
  });

  test("identity goes into fw_cfg padded to a fixed width", () => {
    const argv = buildQemuArgs({ ...base, identity: "clone-7" });
    const [fw] = values(argv, "-fw_cfg");
    expect(fw).toBe(`name=opt/org.clonefleet/identity,string=clone-7${" ".repeat(IDENTITY_BYTES - 7)}`);
  });

  test("commas in paths and names are doubled in option syntax; JSON options need no escaping", () => {
    const argv = buildQemuArgs({ ...base, name: "a,b", stateDir: "/x,y", disks: [{ path: "/d,1.qcow2" }] });
    expect(values(argv, "-name")).toEqual(["a,,b"]);
    expect(values(argv, "-chardev")[0]).toBe("socket,id=cf-qmp,path=/x,,y/qmp.sock,server=on,wait=off");
    expect(JSON.parse(values(argv, "-blockdev")[0]).filename).toBe("/d,1.qcow2");
    expect(optValue("a,,b")).toBe("a,,,,b");
  });

  test("extra arguments are appended last", () => {
    const argv = buildQemuArgs({ ...base, extraArgs: ["-rtc", "base=utc"] });
    expect(argv.slice(-2)).toEqual(["-rtc", "base=utc"]);
  });

  test("bad specs are refused naming the field", () => {
    expect(specError(() => buildQemuArgs({ ...base, memoryMb: 8 })).field).toBe("memoryMb");
    expect(specError(() => buildQemuArgs({ ...base, memoryMb: 1.5 })).field).toBe("memoryMb");
    expect(specError(() => buildQemuArgs({ ...base, vcpus: 0 })).field).toBe("vcpus");
    expect(specError(() => buildQemuArgs({ ...base, stateDir: "relative/dir" })).field).toBe("stateDir");
    expect(specError(() => buildQemuArgs({ ...base, stateDir: "/" + "x".repeat(120) })).message).toMatch(/longer than 107 bytes/);
    expect(specError(() => buildQemuArgs({ ...base, accel: "hvf" as never })).field).toBe("accel");
    expect(specError(() => buildQemuArgs({ ...base, disks: [{ path: "d.qcow2" }] })).field).toBe("disks[0].path");
    expect(specError(() => buildQemuArgs({ ...base, disks: [{ path: "/a" }, { path: "/b", nodeName: "disk0" }] })).field).toBe("disks[1].nodeName");
    expect(specError(() => buildQemuArgs({ ...base, disks: [{ path: "/a", backingChain: [{ path: "/r", format: "raw" }, { path: "/q" }] }] })).field).toBe(
      "disks[0].backingChain[0].format",
    );
    expect(specError(() => buildQemuArgs({ ...base, kernel: { kernel: "/k", cmdline: "a\nb" } })).field).toBe("kernel.cmdline");
    expect(specError(() => buildQemuArgs({ ...base, serialPorts: [{ name: "p" }, { name: "p" }] })).field).toBe("serialPorts[1].name");
    expect(specError(() => buildQemuArgs({ ...base, identity: "has space" })).field).toBe("identity");
    expect(specError(() => buildQemuArgs({ ...base, identity: "x".repeat(65) })).field).toBe("identity");
    expect(specError(() => buildQemuArgs({ ...base, name: "" })).field).toBe("name");
  });
});

describe("state folder layout", () => {
  test("every runtime file lives in the state folder", () => {
    expect(stateFiles("/s")).toEqual({
      stateDir: "/s",
      qmpSocket: "/s/qmp.sock",
      pidFile: "/s/qemu.pid",
      serialLog: "/s/serial.log",
      qemuLog: "/s/qemu.log",
      specFile: "/s/vm.json",
    });
    expect(portSocketPath("/s", { name: "org.clonefleet.agent.0" })).toBe("/s/agent.0.sock");
    expect(portSocketPath("/s", { name: "com.example/x" })).toBe("/s/com.example_x.sock");
  });
});

test("a backing layer marked readOnly is opened read-only outright (file and format node)", () => {
  const argv = buildQemuArgs({ ...base, disks: [{ path: "/ds/top.qcow2", backingChain: [{ path: "/ds/base.qcow2", readOnly: true }] }] });
  const nodes = values(argv, "-blockdev").map((v) => JSON.parse(v) as Record<string, unknown>);
  expect(nodes.find((n) => n["node-name"] === "disk0-b1-file")).toMatchObject({ "read-only": true });
  expect(nodes.find((n) => n["node-name"] === "disk0-b1-file")).not.toHaveProperty("auto-read-only");
  expect(nodes.find((n) => n["node-name"] === "disk0-b1")).toMatchObject({ "read-only": true, backing: null });
  expect(nodes.find((n) => n["node-name"] === "disk0")).toMatchObject({ "read-only": false, backing: "disk0-b1" });
});
