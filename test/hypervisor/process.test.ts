import { promises as fsp } from "node:fs";
import * as path from "node:path";
import {
  QemuProcess,
  QemuStartError,
  VmAlreadyRunningError,
  VmNotRunningError,
  cleanStateDir,
  pollUntil,
  probeVm,
  qemuVersion,
  resolveAccel,
  stateFiles,
} from "../../engine/hypervisor";
import { VmTracker, firmwareSpec, tempDir } from "./helpers";

const vms = new VmTracker();
afterEach(() => vms.cleanup());

async function newSpec(over = {}) {
  return firmwareSpec(vms.dir(await tempDir()), over);
}

/** The process group of a pid, from /proc. */
async function pgrp(pid: number): Promise<number> {
  const stat = await fsp.readFile(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
}

test("qemuVersion reads the installed QEMU's version", async () => {
  const v = await qemuVersion();
  expect(v.major).toBeGreaterThanOrEqual(7);
  expect(v.version).toMatch(/^\d+\.\d+\.\d+$/);
});

test("a firmware-only VM starts detached in its own process group and runs", async () => {
  const spec = await newSpec();
  const vm = await vms.start(spec);
  expect(await vm.status()).toBe("running");
  expect(vm.accel).toBe("tcg");
  // Its own process group, so signals to the engine's group (Ctrl-C, a service stop) miss it.
  expect(await pgrp(vm.pid)).toBe(vm.pid);
  expect(await pgrp(vm.pid)).not.toBe(await pgrp(process.pid));
  const files = stateFiles(spec.stateDir);
  expect(Number((await fsp.readFile(files.pidFile, "utf8")).trim())).toBe(vm.pid);
  const record = JSON.parse(await fsp.readFile(files.specFile, "utf8"));
  expect(record).toMatchObject({ format: 1, pid: vm.pid, spec: { name: spec.name, accel: "tcg" } });
  expect(record.argv).toContain("-nodefaults");
  expect(await probeVm(spec.stateDir)).toMatchObject({ state: "running", pid: vm.pid });
});

test("pause and resume, seen in the run state and as STOP/RESUME events", async () => {
  const vm = await vms.start(await newSpec());
  const events = vm.qmp.listen(["STOP", "RESUME"]);
  try {
    await vm.pause();
    expect(await vm.status()).toBe("paused");
    await vm.resume();
    expect(await vm.status()).toBe("running");
    expect((await events.next({ timeoutMs: 2000 })).event).toBe("STOP");
    expect((await events.next({ timeoutMs: 2000 })).event).toBe("RESUME");
  } finally {
    events.close();
  }
});

test("graceful stop: firmware ignores the power button, so after its deadline QEMU is told to quit", async () => {
  const spec = await newSpec();
  const vm = await vms.start(spec);
  const result = await vm.shutdown({ powerdownTimeoutMs: 300 });
  expect(result.method).toBe("quit");
  expect(result.elapsedMs).toBeGreaterThanOrEqual(300);
  expect(await vm.isAlive()).toBe(false);
  expect(vm.exit).toEqual({ code: 0, signal: null });
  await expect(fsp.access(stateFiles(spec.stateDir).qmpSocket)).rejects.toThrow();
  expect((await probeVm(spec.stateDir)).state).toBe("dead");
  expect(await vm.shutdown()).toMatchObject({ method: "already-gone" });
});

test("a paused VM is not asked to power down (it could not react): quit at once", async () => {
  const vm = await vms.start(await newSpec());
  await vm.pause();
  const result = await vm.shutdown({ powerdownTimeoutMs: 20000 });
  expect(result.method).toBe("quit");
  expect(result.elapsedMs).toBeLessThan(5000);
});

test("a hung QEMU (SIGSTOP) is killed after powerdown and quit time out", async () => {
  const spec = await newSpec();
  const vm = await vms.start(spec);
  process.kill(vm.pid, "SIGSTOP");
  const result = await vm.shutdown({ powerdownTimeoutMs: 200 });
  expect(result.method).toBe("kill");
  expect(await vm.isAlive()).toBe(false);
  expect(vm.exit?.signal).toBe("SIGKILL");
  // SIGKILL leaves the sockets and pidfile behind; shutdown removes them.
  await expect(fsp.access(stateFiles(spec.stateDir).qmpSocket)).rejects.toThrow();
  await expect(fsp.access(stateFiles(spec.stateDir).pidFile)).rejects.toThrow();
}, 30000);

test("kill ends the process and its QMP connection", async () => {
  const vm = await vms.start(await newSpec());
  await vm.kill();
  expect(await vm.isAlive()).toBe(false);
  expect(vm.qmp.isConnected).toBe(false);
  await vm.kill();
});

test("the VM outlives its QMP client: reattach through the state folder finds the same process", async () => {
  const spec = await newSpec();
  const first = await vms.start(spec);
  await first.pause();
  await first.detach();
  expect(first.qmp.isConnected).toBe(false);

  const again = vms.track(await QemuProcess.reattach(spec.stateDir));
  expect(again.pid).toBe(first.pid);
  expect(again.spec).toEqual(spec);
  expect(await again.status()).toBe("paused");
  await again.resume();
  expect(await again.status()).toBe("running");
  expect(await again.shutdown({ powerdownTimeoutMs: 100 })).toMatchObject({ method: "quit" });
});

test("reattach tells a dead process from a live one", async () => {
  const spec = await newSpec();
  const vm = await vms.start(spec);
  await vm.detach();
  // The engine is away while the VM dies: nothing reaps it but its own parent.
  process.kill(vm.pid, "SIGKILL");
  await pollUntil("QEMU gone", async () => ((await probeVm(spec.stateDir)).state === "dead" ? true : undefined), { timeoutMs: 10000 });
  await expect(QemuProcess.reattach(spec.stateDir)).rejects.toBeInstanceOf(VmNotRunningError);
  const empty = vms.dir(await tempDir());
  await expect(QemuProcess.reattach(empty)).rejects.toBeInstanceOf(VmNotRunningError);
  expect(await probeVm(empty)).toEqual({ state: "empty" });
  // After a crash the folder can be cleaned and the VM started again in it.
  await cleanStateDir(spec.stateDir);
  await expect(fsp.access(stateFiles(spec.stateDir).qmpSocket)).rejects.toThrow();
  const restarted = await vms.start(spec);
  expect(await restarted.status()).toBe("running");
});

test("a reused pid is not mistaken for the VM", async () => {
  const spec = await newSpec();
  const vm = await vms.start(spec);
  await vm.kill();
  // Point the pidfile at a live process that is not this folder's QEMU: ourselves.
  await fsp.writeFile(stateFiles(spec.stateDir).pidFile, `${process.pid}\n`);
  expect((await probeVm(spec.stateDir)).state).toBe("dead");
});

test("a second start in a running VM's folder is refused", async () => {
  const spec = await newSpec();
  const vm = await vms.start(spec);
  await expect(QemuProcess.start(spec)).rejects.toBeInstanceOf(VmAlreadyRunningError);
  expect(await vm.status()).toBe("running");
});

test("a QEMU that cannot start reports its own message and leaves nothing running", async () => {
  const spec = await newSpec({ extraArgs: ["-no-such-option"] });
  const err = (await QemuProcess.start(spec).catch((e: unknown) => e)) as QemuStartError;
  expect(err).toBeInstanceOf(QemuStartError);
  expect(err.logTail).toMatch(/no-such-option/);
  expect(err.argv).toContain("-no-such-option");
  expect(err.exitCode).toBe(1);
  expect((await probeVm(spec.stateDir)).state).toBe("empty");

  const missing = (await QemuProcess.start(await newSpec(), { qemuBinary: "/nonexistent/qemu" }).catch((e: unknown) => e)) as Error;
  expect(missing.message).toMatch(/nonexistent/);
});

test("the accelerator setting auto resolves on this machine and such a VM starts", async () => {
  const choice = await resolveAccel("auto");
  // Firmware-only VMs run under either accelerator (PVM KVM included, with the default CPU model).
  const vm = await vms.start(await newSpec({ accel: choice.accel }));
  expect(await vm.status()).toBe("running");
  const kvm = await vm.qmp.execute("query-kvm");
  expect(kvm.enabled).toBe(choice.accel === "kvm");
});

test("start honours its deadline", async () => {
  const spec = await newSpec();
  // A deadline of 0 cannot be met: the attempt fails and the process is removed.
  const err = await QemuProcess.start(spec, { timeoutMs: 0 }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(QemuStartError);
  expect((err as Error).message).toMatch(/within 0 ms/);
  expect((await probeVm(spec.stateDir)).state).not.toBe("running");
  await expect(fsp.access(path.join(spec.stateDir, "qmp.sock"))).rejects.toThrow();
});
