/**
 * Live migration with a datastore move (S6, engine/ops/migrate-storage.ts): two engine
 * processes on one state folder (hosts `local` and `b`) and two datastores; the VM's own disk
 * layer is mirrored over NBD into a new file on the second datastore while the VM moves.
 * Firmware-only VMs; data is written into the disk from inside QEMU (qemu-io over HMP).
 */
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobWire, MigrateResultWire, VmWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { jobEnded, waitFor as waitUntil } from "../support/wait";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { chainHas, checkClean, createVm, killAllVms, qmpOnce, vmFixture, writeInVm } from "../support/vms";
import { cliRunner } from "../support/cli";

const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000) => waitUntil(what, fn, timeoutMs, 50);
const finished = (job: JobWire) => jobEnded(a.client, job, 90_000);

jest.setTimeout(120_000);

const HEARTBEAT = ["--heartbeat-interval-ms", "250"];

let dir: string;
let stateDir: string;
let a: EngineProcess;
let b: EngineProcess;
let ds1: string;
let ds2: string;
let ds2Path: string;
let templateId: string;

/** Fills 48 MiB of the guest's RAM with random bytes, so a throttled stream lasts seconds. */
async function dirtyRam(vmStateDir: string): Promise<void> {
  const ram = await fs.open(path.join(vmStateDir, "ram"), "r+");
  const chunk = randomBytes(4 * 1024 * 1024);
  for (let i = 0; i < 12; i++) await ram.write(chunk, 0, chunk.length, 32 * 1024 * 1024 + i * chunk.length);
  await ram.close();
}

async function catalogPaths(dsPath: string): Promise<Map<string, string>> {
  const raw = JSON.parse(await fs.readFile(path.join(dsPath, "clonefleet", "catalog.json"), "utf8")) as { layers: { path: string; content_id: string }[] };
  return new Map(raw.layers.map((l) => [path.resolve(dsPath, l.path), l.content_id]));
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-migds-"));
  stateDir = path.join(dir, "state");
  a = await spawnEngine(stateDir, HEARTBEAT);
  b = await spawnEngine(stateDir, [...HEARTBEAT, "--host-name", "b"]);
  ({ templateId, datastoreId: ds1 } = await vmFixture(a.client, dir, 128));
  ds2Path = path.join(dir, "ds2");
  await fs.mkdir(ds2Path);
  ds2 = (await a.client.datastores.create({ name: "second", path: ds2Path })).id;
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await killAllVms(path.join(stateDir, "vms"));
  await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
  await fs.rm(dir, { recursive: true, force: true });
});

test("an unknown target datastore is refused naming target_datastore_id; the VM's own datastore migrates without a move", async () => {
  const vm = await createVm(a.client, "same-ds", templateId, "linked");
  const started = await a.client.vms.start(vm.id);
  const unknown = await apiError(a.client.vms.migrate(vm.id, { host_id: "b", target_datastore_id: "ds-nowhere" }));
  expect(unknown).toMatchObject({ status: 404, code: "CF_NOT_FOUND", field: "target_datastore_id" });
  expect(unknown.message).toMatch(/ds-nowhere/);
  expect((await a.client.vms.get(vm.id))!).toMatchObject({ host_id: "local", pid: started.pid, datastore_id: ds1, disk_path: vm.disk_path });
  expect((await a.client.jobs.list()).filter((j) => j.kind === "vm.migrate")).toEqual([]);

  const job = await a.client.vms.migrate(vm.id, { host_id: "b", target_datastore_id: ds1 });
  const r = (await a.client.waitJob(job.id, { timeoutMs: 60_000 })).result as MigrateResultWire;
  expect(r.steps.map((s) => s.step)).not.toContain("mirror_started");
  expect(r.vm).toMatchObject({ host_id: "b", datastore_id: ds1, disk_path: vm.disk_path, power_state: "running" });
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
});

test("a running VM moves host and datastore: data written before and during the move reads back from the new file; old file gone; catalogs follow", async () => {
  const vm = await createVm(a.client, "mover", templateId, "linked");
  expect(vm.disk_chain).toHaveLength(2);
  const oldPath = vm.disk_path;
  const started = await a.client.vms.start(vm.id);
  await writeInVm(started.state_dir!, "1M", 0x11);

  // A notice no guest answers (no guest OS) holds the migration 3 s with the mirror running.
  const job = await a.client.vms.migrate(vm.id, { host_id: "b", target_datastore_id: ds2, notify_timeout_seconds: 3, on_missing_ack: "proceed" });
  await waitFor("the mirror to be ready", async () => (await a.client.jobs.get(job.id)).steps?.some((s) => s.step === "notice_sent"));
  // Written while the mirror runs: the mirror must carry it over.
  await writeInVm(started.state_dir!, "2M", 0x22);
  const writtenAt = Date.now();
  const done = await a.client.waitJob(job.id, { timeoutMs: 90_000 });
  const r = done.result as MigrateResultWire;
  expect(r.steps.map((s) => s.step)).toEqual([
    "accepted",
    "target_ready",
    "mirror_started",
    "mirror_ready",
    "notice_sent",
    "ack_missing",
    "migration_started",
    "switch_over",
    "migration_completed",
    "target_running",
    "record_moved",
    "source_stopped",
    "disk_moved",
    "completion_sent",
  ]);
  expect(Date.parse(r.steps.find((s) => s.step === "switch_over")!.at)).toBeGreaterThanOrEqual(writtenAt);

  const newPath = path.join(ds2Path, "clonefleet", "vms", vm.id, "disk.qcow2");
  const moved = (await a.client.vms.get(vm.id)) as VmWire;
  expect(moved).toMatchObject({ host_id: "b", power_state: "running", datastore_id: ds2, disk_path: newPath, home_dir: path.dirname(newPath) });
  // Top-only move: the template's disk stays the backing layer, on its datastore.
  expect(moved.disk_chain).toEqual([newPath, vm.disk_chain[1]]);
  expect(await exists(oldPath)).toBe(false);
  expect(await exists(path.dirname(oldPath))).toBe(false);
  expect(await chainHas(newPath, "1M", 0x11)).toBe(true);

  const cat2 = await catalogPaths(ds2Path);
  expect(cat2.get(newPath)).toBe(moved.content_id);
  const cat1 = await catalogPaths(path.join(dir, "ds"));
  expect(cat1.has(oldPath)).toBe(false);
  expect(cat1.has(vm.disk_chain[1])).toBe(true);

  // The moved VM writes to its new file on host b, and stops and starts from it.
  await writeInVm(moved.state_dir!, "3M", 0x33);
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  // Read once the target QEMU quit, so its cached qcow2 metadata is on disk.
  expect(await checkClean(newPath)).toBe(true);
  expect(await chainHas(newPath, "1M", 0x11)).toBe(true);
  expect(await chainHas(newPath, "2M", 0x22)).toBe(true);
  expect(await chainHas(newPath, "3M", 0x33)).toBe(true);
  const again = await a.client.vms.start(vm.id);
  expect(again).toMatchObject({ host_id: "b", power_state: "running", disk_path: newPath });
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  await a.client.vms.delete(vm.id);
  expect(await exists(path.dirname(newPath))).toBe(false);
  expect((await catalogPaths(ds2Path)).has(newPath)).toBe(false);
});

test("the target QEMU killed mid-mirror: the VM runs on at its source with its old disk intact and nothing left on the target datastore", async () => {
  const vm = await createVm(a.client, "survivor", templateId, "linked");
  const started = await a.client.vms.start(vm.id);
  await writeInVm(started.state_dir!, "1M", 0x44);
  await dirtyRam(started.state_dir!);
  const job = await a.client.vms.migrate(vm.id, { host_id: "b", target_datastore_id: ds2, max_bandwidth_bytes_per_sec: 8 * 1024 * 1024 });
  const ready = await waitFor("the mirror to run", async () => {
    const j = await a.client.jobs.get(job.id);
    return j.steps?.some((s) => s.step === "mirror_ready") && !j.steps.some((s) => s.step === "switch_over") ? j.steps.find((s) => s.step === "target_ready") : null;
  });
  process.kill(-(ready.detail!.pid as number), "SIGKILL");

  const failed = await finished(job);
  expect(failed.state).toBe("failed");
  expect(failed.error).toMatchObject({ code: "CF_MIGRATION_FAILED" });
  expect(failed.steps!.map((s) => s.step)).toEqual(expect.arrayContaining(["mirror_started", "migration_failed", "target_removed"]));
  expect(failed.steps!.map((s) => s.step)).not.toContain("switch_over");
  const after = (await a.client.vms.get(vm.id))!;
  expect(after).toMatchObject({ host_id: "local", power_state: "running", pid: started.pid, datastore_id: ds1, disk_path: vm.disk_path });
  expect(await exists(path.join(ds2Path, "clonefleet", "vms", vm.id))).toBe(false);
  expect(await exists(path.join(stateDir, "hosts", "b", "vms", vm.id))).toBe(false);
  expect([...(await catalogPaths(ds2Path).catch(() => new Map<string, string>())).keys()].filter((p) => p.includes(vm.id))).toEqual([]);
  // The source keeps writing to its old disk.
  await writeInVm(started.state_dir!, "2M", 0x55);
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  expect(await checkClean(vm.disk_path)).toBe(true);
  expect(await chainHas(vm.disk_path, "1M", 0x44)).toBe(true);
  expect(await chainHas(vm.disk_path, "2M", 0x55)).toBe(true);
});

test("the source engine killed during a move: at its restart the move is finished or undone, never half-done", async () => {
  const vm = await createVm(a.client, "crash-move", templateId, "linked");
  const started = await a.client.vms.start(vm.id);
  await writeInVm(started.state_dir!, "1M", 0x66);
  await dirtyRam(started.state_dir!);
  const job = await a.client.vms.migrate(vm.id, { host_id: "b", target_datastore_id: ds2, max_bandwidth_bytes_per_sec: 8 * 1024 * 1024 });
  await waitFor("the stream to start", async () => (await a.client.jobs.get(job.id)).steps?.some((s) => s.step === "migration_started"));
  await a.kill();
  a = await spawnEngine(stateDir, HEARTBEAT);

  const after = await a.client.jobs.get(job.id);
  const now = (await a.client.vms.get(vm.id))!;
  const newHome = path.join(ds2Path, "clonefleet", "vms", vm.id);
  if (after.state === "succeeded") {
    expect(now).toMatchObject({ host_id: "b", power_state: "running", datastore_id: ds2, disk_path: path.join(newHome, "disk.qcow2") });
    expect(await exists(vm.disk_path)).toBe(false);
  } else {
    expect(after).toMatchObject({ state: "failed", error: { code: "CF_INTERRUPTED" } });
    expect(now).toMatchObject({ host_id: "local", power_state: "running", pid: started.pid, datastore_id: ds1, disk_path: vm.disk_path });
    expect(await exists(newHome)).toBe(false);
    expect((await qmpOnce<{ status: string }>(started.state_dir!, "query-status")).status).toBe("running");
    // Nothing of the undone move is left in the source QEMU (mirror, NBD node, switch-over pause): it moves again.
    const again = await a.client.vms.migrate(vm.id, { host_id: "b", target_datastore_id: ds2 });
    const r = (await a.client.waitJob(again.id, { timeoutMs: 60_000 })).result as MigrateResultWire;
    expect(r.vm).toMatchObject({ host_id: "b", datastore_id: ds2, disk_path: path.join(newHome, "disk.qcow2") });
  }
  const final = (await a.client.vms.get(vm.id))!;
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  expect(await checkClean(final.disk_path)).toBe(true);
  expect(await chainHas(final.disk_path, "1M", 0x66)).toBe(true);
});

test("CLI: vm migrate --datastore moves the disk; an unknown datastore is a typed error", async () => {
  const { cli, json } = cliRunner(() => ({ endpoint: a.url, stateDir }));
  const vm = await createVm(a.client, "cli-mover", templateId, "linked");
  await a.client.vms.start(vm.id);
  const bad = await cli(["--state-dir", stateDir, "vm", "migrate", vm.id, "--to", "b", "--datastore", "nowhere"]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/CF_NOT_FOUND: datastore "nowhere" not found/);
  const moved = (await json(["vm", "migrate", vm.id, "--to", "b", "--datastore", ds2])) as MigrateResultWire;
  expect(moved.vm).toMatchObject({ host_id: "b", datastore_id: ds2 });
  expect(moved.vm.disk_path.startsWith(ds2Path)).toBe(true);
  await json(["vm", "stop", vm.id, "--timeout", "0"]);
});
