import { promises as fsp } from "node:fs";
import * as path from "node:path";
import {
  MigrationError,
  loadState,
  saveState,
  waitForMigration,
  type QemuProcess,
  type VmSpec,
} from "../../engine/hypervisor";
import { VmTracker, firmwareSpec, tempDir } from "./helpers";

const vms = new VmTracker();
afterEach(() => vms.cleanup());

const MiB = 1024 * 1024;

/** Dumps guest RAM [0, size) to a file with pmemsave (the VM should be paused) and reads it. */
async function dumpRam(vm: QemuProcess, file: string, size: number): Promise<Buffer> {
  await vm.qmp.execute("pmemsave", { val: 0, size, filename: file });
  return fsp.readFile(file);
}

/**
 * Writes bytes into a running VM's guest RAM from outside, as a guest would: QEMU's HMP
 * `gpa2hva` names the host address, and root may write the process's memory through
 * /proc/PID/mem. No QMP command writes guest RAM, and a firmware-only guest writes none itself.
 */
async function pokeGuestRam(vm: QemuProcess, gpa: number, bytes: Buffer): Promise<void> {
  const out = await vm.qmp.hmp(`gpa2hva 0x${gpa.toString(16)}`);
  const m = /is (0x[0-9a-f]+)/i.exec(out);
  if (!m) throw new Error(`gpa2hva: ${out}`);
  const mem = await fsp.open(`/proc/${vm.pid}/mem`, "r+");
  try {
    await mem.write(bytes, 0, bytes.length, Number(BigInt(m[1])));
  } finally {
    await mem.close();
  }
}

/** The spec of a process that receives the state of `source`: same machine, new state folder. */
function targetSpec(source: VmSpec, stateDir: string, over: Partial<VmSpec> = {}): VmSpec {
  return { ...source, name: path.basename(stateDir), stateDir, incoming: "defer", ...over };
}

test("save a running VM's state to a file and restore it into a new process that runs", async () => {
  const work = vms.dir(await tempDir());
  const source = await vms.start(firmwareSpec(vms.dir(await tempDir()), { memoryMb: 128 }));
  await source.pause();
  const file = path.join(work, "state.bin");
  const saved = await saveState(source.qmp, file);
  expect(saved.path).toBe(file);
  expect(saved.sizeBytes).toBe((await fsp.stat(file)).size);
  expect(saved.sizeBytes).toBeGreaterThan(100 * 1024);
  // Nothing but the final file is left in the folder (the partial name was renamed).
  expect(await fsp.readdir(work)).toEqual(["state.bin"]);
  // The source is left paused with its images released; cont takes it back.
  expect(await source.status()).toBe("postmigrate");
  await source.resume();
  expect(await source.status()).toBe("running");

  const target = await vms.start(targetSpec(source.spec, vms.dir(await tempDir())));
  expect(await target.status()).toBe("inmigrate");
  const loaded = await loadState(target.qmp, file);
  // The target takes the run state the source had at the save: paused.
  expect(loaded.status).toBe("paused");
  await target.resume();
  expect(await target.status()).toBe("running");
});

test("a state saved from a running VM comes up running", async () => {
  const work = vms.dir(await tempDir());
  const source = await vms.start(firmwareSpec(vms.dir(await tempDir())));
  // A live save: QEMU converges and stops the source at the end.
  await saveState(source.qmp, path.join(work, "live.bin"));
  expect(await source.status()).toBe("postmigrate");
  const target = await vms.start(targetSpec(source.spec, vms.dir(await tempDir())));
  expect((await loadState(target.qmp, path.join(work, "live.bin"))).status).toBe("running");
});

test("the restored RAM equals the source's RAM at the save (pmemsave dumps of both, paused)", async () => {
  const work = vms.dir(await tempDir());
  const size = 64 * MiB;
  const source = await vms.start(firmwareSpec(vms.dir(await tempDir()), { memoryMb: 64 }));
  // Give RAM recognisable content beyond what the firmware wrote.
  await pokeGuestRam(source, 0x2000000, Buffer.alloc(MiB, 0xa5));
  await source.pause();
  const before = await dumpRam(source, path.join(work, "source.ram"), size);
  await saveState(source.qmp, path.join(work, "state.bin"));

  const target = await vms.start(targetSpec(source.spec, vms.dir(await tempDir()), { startPaused: true }));
  expect((await loadState(target.qmp, path.join(work, "state.bin"))).status).toBe("paused");
  const after = await dumpRam(target, path.join(work, "target.ram"), size);
  expect(after.length).toBe(size);
  expect(before[0x2000000]).toBe(0xa5);
  expect(after.equals(before)).toBe(true);
  await target.resume();
  expect(await target.status()).toBe("running");
});

test("templating: file-backed shared RAM stays out of the state; a clone maps it privately (x-ignore-shared)", async () => {
  const work = vms.dir(await tempDir());
  const ramFile = path.join(work, "template.ram");
  const size = 64 * MiB;
  const parent = await vms.start(firmwareSpec(vms.dir(await tempDir()), { memoryFile: { path: ramFile, share: true } }));
  await pokeGuestRam(parent, 0x1000000, Buffer.alloc(MiB, 0x5c));
  await parent.pause();
  const parentRam = await dumpRam(parent, path.join(work, "parent.dump"), size);
  const saved = await saveState(parent.qmp, path.join(work, "device.state"), { ignoreShared: true });
  // Device state only: RAM is in the file, so the state is small (no 64 MiB in it).
  expect(saved.sizeBytes).toBeLessThan(2 * MiB);
  await parent.shutdown({ powerdownTimeoutMs: 0 });
  expect((await fsp.stat(ramFile)).size).toBe(size);

  const cloneSpec = targetSpec(parent.spec, vms.dir(await tempDir()), { memoryFile: { path: ramFile, share: false }, startPaused: true });
  const clone = await vms.start(cloneSpec);
  expect((await loadState(clone.qmp, saved.path, { ignoreShared: true })).status).toBe("paused");
  expect((await dumpRam(clone, path.join(work, "clone.dump"), size)).equals(parentRam)).toBe(true);
  await clone.resume();
  // The clone's writes are its own: the template file keeps the parent's RAM.
  await pokeGuestRam(clone, 0x1000000, Buffer.alloc(MiB, 0x77));
  expect((await dumpRam(clone, path.join(work, "clone2.dump"), size))[0x1000000]).toBe(0x77);
  const templateBytes = await fsp.readFile(ramFile);
  expect(templateBytes[0x1000000]).toBe(0x5c);
  expect(await clone.status()).toBe("running");

  // The same load from a descriptor QEMU inherited at spawn (no shell, no cat), once only.
  const second = await vms.start(targetSpec(parent.spec, vms.dir(await tempDir()), { memoryFile: { path: ramFile, share: false }, startPaused: true }), { stateFile: saved.path });
  expect((await second.loadStartState({ ignoreShared: true })).status).toBe("paused");
  expect((await dumpRam(second, path.join(work, "second.dump"), size)).equals(parentRam)).toBe(true);
  await expect(second.loadStartState()).rejects.toThrow(/without a state file, or already loaded it/);
  await second.resume();
  expect(await second.status()).toBe("running");
});

test("a failed save leaves no file behind and the VM usable", async () => {
  const source = await vms.start(firmwareSpec(vms.dir(await tempDir())));
  await source.pause();
  const missingDir = path.join(vms.dir(await tempDir()), "no-such-dir", "state.bin");
  const err = await saveState(source.qmp, missingDir).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MigrationError);
  expect((err as MigrationError).step).toBe("save");
  await expect(fsp.access(missingDir)).rejects.toThrow();
  await source.resume();
  expect(await source.status()).toBe("running");
});

test("loading a missing file, or a garbage stream, fails clearly", async () => {
  const work = vms.dir(await tempDir());
  const spec = firmwareSpec(vms.dir(await tempDir()), { incoming: "defer" });
  const target = await vms.start(spec);
  await expect(loadState(target.qmp, path.join(work, "nope.bin"))).rejects.toThrow(/ENOENT/);
  const junk = path.join(work, "junk.bin");
  await fsp.writeFile(junk, Buffer.alloc(4096, 7));
  const err = await loadState(target.qmp, junk).catch((e: unknown) => e);
  // QEMU exits after a failed incoming migration: either the migration failed, or the
  // monitor went away while we waited.
  expect((err as Error).name).toMatch(/MigrationError|QmpInterruptedError/);
});

test("waitForMigration has a deadline", async () => {
  const target = await vms.start(firmwareSpec(vms.dir(await tempDir()), { incoming: "defer" }));
  // Nothing was started: the wait ends at its deadline.
  await expect(waitForMigration(target.qmp, null, { timeoutMs: 150, pollMs: 20 })).rejects.toMatchObject({ name: "QmpTimeoutError" });
});
