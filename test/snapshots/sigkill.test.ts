import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAllVms } from "../support/vms";
import { cleanCheck, guestFill, guestWrite, mismatches, run, snap, withQmp } from "./helpers";
import type { ClonefleetClient, VmWire } from "../../engine/client";

// SIGKILL of the engine in the middle of a live consolidation, then a restart: the VM's QEMU
// (which outlives the engine) still runs, its data is intact, and the job ends without leaving
// a layer that no record owns. Real QEMU, firmware-only VMs.
jest.setTimeout(240_000);

const SLOT = 64 * 1024;
let dir: string;
let stateDir: string;
let engine: EngineProcess | null = null;
let templateId: string;

async function until(what: string, ready: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-snapkill-"));
  stateDir = path.join(dir, "state");
  await fs.mkdir(path.join(dir, "ds"), { recursive: true });
  engine = await spawnEngine(stateDir);
  const ds = await engine.client.datastores.create({ name: "ds", path: path.join(dir, "ds") });
  const img = path.join(dir, "blank.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "256M"]);
  const job = await engine.client.templates.import({ name: "t", datastore_id: ds.id, source_path: img, memory_mb: 64, vcpus: 1 });
  templateId = ((await engine.client.waitJob(job.id)).result as { id: string }).id;
  await engine.stop();
  engine = null;
});

afterAll(async () => {
  await engine?.stop();
  await killAllVms(path.join(stateDir, "vms"));
  await fs.rm(dir, { recursive: true, force: true });
});

async function prepare(client: ClonefleetClient, name: string): Promise<{ vm: VmWire; snapId: string; expected: Map<number, number> }> {
  const job = await client.vms.create({ name, template_id: templateId, clone_mode: "full" });
  const vm = await client.vms.start(((await client.waitJob(job.id)).result as VmWire).id);
  await guestWrite(vm.state_dir!, 0, 0x31);
  const s = await snap(client, vm.id, "k");
  await guestFill(vm.state_dir!, SLOT, "48M", 0x32);
  const expected = new Map<number, number>([[0, 0x31]]);
  for (let i = 1; i <= 768; i += 17) expected.set(i * SLOT, 0x32);
  return { vm: (await client.vms.get(vm.id))!, snapId: s.id, expected };
}

async function expectSettled(client: ClonefleetClient, vm: VmWire, jobId: string, depthBefore: number, expected: Map<number, number>): Promise<void> {
  const job = await client.jobs.get(jobId);
  expect(["succeeded", "failed"]).toContain(job.state);
  const after = (await client.vms.get(vm.id))!;
  expect(after.power_state).toBe("running");
  expect(await withQmp(vm.state_dir!, async (q) => (await q.execute("query-status")).status)).toBe("running");
  // Every file in the VM's folder is a layer of its chain (or of a snapshot still recorded).
  const snaps = await client.snapshots.list(vm.id);
  const owned = new Set([...after.disk_chain, ...snaps.map((s) => s.frozen_disk_path)]);
  for (const f of await fs.readdir(vm.home_dir)) expect(owned.has(path.join(vm.home_dir, f))).toBe(true);
  if (job.state === "succeeded") {
    expect(after.chain_depth).toBe(depthBefore - 1);
    expect(snaps).toHaveLength(0);
  } else {
    expect(after.chain_depth).toBe(depthBefore);
  }
  const live = await withQmp(vm.state_dir!, (q) => q.execute("query-block"));
  expect(live.find((b) => (b.qdev ?? "").includes("disk0-dev"))?.inserted?.file).toBe(after.disk_path);
  await withQmp(vm.state_dir!, (q) => q.execute("stop"));
  expect(await mismatches(after.disk_path, expected)).toEqual([]);
  expect(await cleanCheck(after.disk_path)).toBe(true);
  await withQmp(vm.state_dir!, (q) => q.execute("cont"));
}

test("killed after BLOCK_JOB_READY, before the pivot: recovery pivots and records it", async () => {
  process.env.CLONEFLEET_FAULT_SNAPSHOT_HOLD = "delete-ready";
  try {
    engine = await spawnEngine(stateDir);
  } finally {
    delete process.env.CLONEFLEET_FAULT_SNAPSHOT_HOLD;
  }
  const { vm, snapId, expected } = await prepare(engine.client, "k1");
  const job = await engine.client.snapshots.delete(snapId);
  await until("the hold at READY", async () => (await engine!.client.jobs.get(job.id)).progress.message === "fault hold: delete-ready");
  await engine.kill();
  // QEMU holds the ready job; the guest writes on with nobody watching.
  await guestWrite(vm.state_dir!, 900 * SLOT, 0x33);
  expected.set(900 * SLOT, 0x33);
  engine = await spawnEngine(stateDir);
  await until("the job to end", async () => (await engine!.client.jobs.get(job.id)).state !== "running");
  expect((await engine.client.jobs.get(job.id)).state).toBe("succeeded");
  await expectSettled(engine.client, vm, job.id, vm.chain_depth, expected);
  await engine.stop();
  engine = null;
});

test("killed while a rate-limited commit copies: recovery completes it or rolls back, the VM runs on intact", async () => {
  engine = await spawnEngine(stateDir);
  const { vm, snapId, expected } = await prepare(engine.client, "k2");
  const job = await engine.client.snapshots.delete(snapId, { speedBytesPerSec: 2 * 1024 * 1024 });
  await until("the commit under way", async () => (await engine!.client.jobs.get(job.id)).progress.done > 20 * 1024 * 1024);
  await engine.kill();
  engine = await spawnEngine(stateDir);
  await until("the job to end", async () => (await engine!.client.jobs.get(job.id)).state !== "running");
  await expectSettled(engine.client, vm, job.id, vm.chain_depth, expected);
  await engine.stop();
  engine = null;
});
