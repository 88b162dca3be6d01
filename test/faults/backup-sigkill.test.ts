import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobWire, VmWire } from "../../engine/client";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAllVms } from "../support/vms";
import { cleanCheck, guestFill, guestWrite, mismatches, run, withQmp } from "../snapshots/helpers";

// SIGKILL of the engine while a backup copies the frozen disk (the copy is rate-limited so the
// kill lands mid-way), then a restart: the job ends failed, no partial backup file is left, and
// the VM (whose QEMU outlives the engine) runs on a consistent chain with no snapshot layer
// left dangling. Real QEMU, a firmware-only VM.
jest.setTimeout(240_000);

const SLOT = 64 * 1024;

async function until(what: string, ready: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("SIGKILL of the engine in the middle of a backup", () => {
  let dir: string;
  let stateDir: string;
  let engine: EngineProcess | null = null;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-backupkill-"));
    stateDir = path.join(dir, "state");
  });
  afterAll(async () => {
    await engine?.stop();
    await killAllVms(path.join(stateDir, "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("after a restart the job failed, no partial file is left, and the VM runs on its chain with its data intact", async () => {
    const backups = path.join(dir, "backups");
    await fs.mkdir(backups);
    await fs.mkdir(path.join(dir, "ds"));
    // A bandwidth cap makes the copy take seconds, so the kill lands while it runs.
    // Backups outside a datastore go only into a folder the engine was given.
    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "4M", "--backup-dir", backups]);
    const ds = await engine.client.datastores.create({ name: "ds", path: path.join(dir, "ds") });
    const img = path.join(dir, "blank.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "256M"]);
    const tpl = await engine.client.waitJob((await engine.client.templates.import({ name: "t", datastore_id: ds.id, source_path: img, memory_mb: 64, vcpus: 1 })).id);
    const made = await engine.client.waitJob((await engine.client.vms.create({ name: "app", template_id: (tpl.result as { id: string }).id, clone_mode: "full" })).id);
    const vm: VmWire = await engine.client.vms.start((made.result as VmWire).id);
    await guestWrite(vm.state_dir!, 0, 0x31);
    await guestFill(vm.state_dir!, SLOT, "32M", 0x32);
    const expected = new Map<number, number>([[0, 0x31]]);
    for (let i = 1; i <= 512; i += 13) expected.set(i * SLOT, 0x32);
    const before = (await engine.client.vms.get(vm.id))!;

    const target = path.join(backups, "app.qcow2");
    const part = path.join(backups, ".app.qcow2.cf-part");
    const job = await engine.client.vms.backup(vm.id, { target_path: target });
    await until("the copy under way", async () => {
      const seen: JobWire = await engine!.client.jobs.get(job.id);
      const size = (await fs.stat(part).catch(() => ({ size: 0 }))).size;
      return seen.state === "running" && seen.progress.message === "copying the frozen disk" && size > 0;
    });
    // Mid-copy the VM runs on the snapshot's overlay.
    expect((await engine.client.vms.get(vm.id))!.chain_depth).toBe(before.chain_depth + 1);
    await engine.kill();

    // The guest writes on with no engine; the write lands in the overlay the recovery must merge.
    await guestWrite(vm.state_dir!, 600 * SLOT, 0x33);
    expected.set(600 * SLOT, 0x33);

    engine = await spawnEngine(stateDir, ["--backup-dir", backups]);
    await until("the job to end", async () => (await engine!.client.jobs.get(job.id)).state !== "running");
    const ended = await engine.client.jobs.get(job.id);
    expect(ended.state).toBe("failed");
    expect(ended.error?.code).toBe("CF_INTERRUPTED");
    // Neither the part file nor a target: a half backup is worse than none.
    expect(await fs.readdir(backups)).toEqual([]);

    const after = (await engine.client.vms.get(vm.id))!;
    expect(await engine.client.snapshots.list(vm.id)).toEqual([]);
    expect(after.chain_depth).toBe(before.chain_depth);
    expect(after.power_state).toBe("running");
    expect(await withQmp(vm.state_dir!, async (q) => (await q.execute("query-status")).status)).toBe("running");
    // QEMU runs on the chain the inventory records, and no file in the VM's folder lies outside it.
    const live = await withQmp(vm.state_dir!, (q) => q.execute("query-block"));
    expect(live.find((b) => (b.qdev ?? "").includes("disk0-dev"))?.inserted?.file).toBe(after.disk_path);
    for (const f of await fs.readdir(vm.home_dir)) expect(after.disk_chain).toContain(path.join(vm.home_dir, f));
    await withQmp(vm.state_dir!, (q) => q.execute("stop"));
    try {
      expect(await mismatches(after.disk_path, expected)).toEqual([]);
      expect(await cleanCheck(after.disk_path)).toBe(true);
    } finally {
      await withQmp(vm.state_dir!, (q) => q.execute("cont"));
    }

    // The target is free again: a new backup succeeds and holds every write.
    const again = await engine.client.waitJob((await engine.client.vms.backup(vm.id, { target_path: target })).id, { timeoutMs: 120_000 });
    expect(again.state).toBe("succeeded");
    expect(await fs.readdir(backups)).toEqual(["app.qcow2"]);
    expect(await mismatches(target, expected)).toEqual([]);
    expect(await cleanCheck(target)).toBe(true);
    expect((await engine.client.vms.get(vm.id))!.chain_depth).toBe(before.chain_depth);
    await engine.stop();
    engine = null;
  });
});
