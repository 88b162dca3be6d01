import { promises as fs } from "node:fs";
import * as path from "node:path";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, killAllVms, vmFixture } from "../support/vms";
import { apiError } from "../support/api-error";
import { cleanCheck, consolidate, guestFill, guestWrite, mismatches, run, snap, withQmp } from "./helpers";
import type { SnapshotWire } from "../../engine/client";

// Real QEMU (the engine's accelerator setting: KVM when /dev/kvm opens, else TCG), firmware-only
// VMs with 64 MiB of RAM and a 32 MiB qcow2 disk; every QEMU is killed in afterAll.
jest.setTimeout(240_000);

const SLOT = 64 * 1024;
const SLOTS = 256; // the first 16 MiB of the disk, in 64 KiB slots

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };
let bigTemplateId: string;

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "auto" } });
  fx = await vmFixture(t.client, t.dir);
  // A roomier disk for the commit that must outlast many guest writes: QEMU's mirror copies the
  // first 16 MiB in one burst before its speed cap bites.
  const img = path.join(t.dir, "big.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "256M"]);
  const job = await t.client.templates.import({ name: "big", datastore_id: fx.datastoreId, source_path: img, memory_mb: 64, vcpus: 1 });
  bigTemplateId = ((await t.client.waitJob(job.id)).result as { id: string }).id;
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
});

async function pausedRead<T>(stateDir: string, fn: () => Promise<T>): Promise<T> {
  // `stop` flushes QEMU's caches into the files; read them then, and go on.
  await withQmp(stateDir, (q) => q.execute("stop"));
  try {
    return await fn();
  } finally {
    await withQmp(stateDir, (q) => q.execute("cont"));
  }
}

test("live snapshot, then consolidation under continuous guest writes: every write reads back, chain one shorter, check clean, never paused", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "live1", bigTemplateId)).id);
  const stateDir = vm.state_dir!;
  const expected = new Map<number, number>();
  for (let i = 0; i < 16; i++) {
    await guestWrite(stateDir, i * SLOT, 0x10 + i);
    expected.set(i * SLOT, 0x10 + i);
  }
  const before = (await t.client.vms.get(vm.id))!;
  const s = await snap(t.client, vm.id, "s1");
  const afterSnap = (await t.client.vms.get(vm.id))!;
  expect(afterSnap.chain_depth).toBe(before.chain_depth + 1);
  expect(s.frozen_disk_path).toBe(before.disk_path);
  expect(afterSnap.disk_layers![0].parent_content_id).toBe(s.content_id);
  expect(afterSnap.content_id).not.toBe(before.content_id);
  expect((await t.client.snapshots.list(vm.id)).map((x) => x.id)).toEqual([s.id]);
  expect(await withQmp(stateDir, async (q) => (await q.execute("query-status")).status)).toBe("running");

  // A delta worth mirroring: 64 MiB in the overlay, and a 16 MiB/s cap on the bulk pass so the writes overlap the job.
  await guestFill(stateDir, 256 * SLOT, "64M", 0x77);
  for (let i = 256; i < 256 + 1024; i++) expected.set(i * SLOT, 0x77);

  let writing = true;
  let writes = 0;
  const statuses = new Set<string>();
  const writer = (async () => {
    for (let n = 0; writing; n++) {
      const slot = n % SLOTS;
      const pattern = 1 + ((n * 7) % 250);
      statuses.add(await guestWrite(stateDir, slot * SLOT, pattern));
      expected.set(slot * SLOT, pattern);
      writes++;
      // A steady guest, not a flood: ~2 MiB/s of writes.
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const job = await consolidate(t.client, s.id, 16 * 1024 * 1024).finally(() => (writing = false));
  await writer;
  const r = job.result as { method: string; guest_paused: boolean; pivot_ms: number };
  expect(r.method).toBe("live-active-commit");
  expect(r.guest_paused).toBe(false);
  expect(writes).toBeGreaterThan(10);
  expect(r.pivot_ms).toBeLessThan(1000);
  expect([...statuses]).toEqual(["running"]);

  const done = (await t.client.vms.get(vm.id))!;
  expect(done.chain_depth).toBe(before.chain_depth);
  expect(done.disk_path).toBe(s.frozen_disk_path);
  expect(done.content_id).not.toBe(s.content_id);
  expect(await t.client.snapshots.get(s.id)).toBeNull();
  await expect(fs.stat(afterSnap.disk_path)).rejects.toThrow();
  // The catalog follows the pivot: the merged layer is gone from it, the base carries its new content ID.
  const catalog = JSON.parse(await fs.readFile(path.join(t.dir, "ds", "clonefleet", "catalog.json"), "utf8")) as unknown;
  const text = JSON.stringify(catalog);
  expect(text).not.toContain(afterSnap.disk_path);
  expect(text).toContain(done.content_id!);
  await pausedRead(stateDir, async () => {
    const bad = await mismatches(done.disk_path, expected);
    if (bad.length) console.log("DBG", writes, bad.length, bad.slice(0, 5), (await fs.readFile(path.join(stateDir, "qemu.log"), "utf8")).slice(0, 3000));
    expect(bad).toEqual([]);
    expect(await cleanCheck(done.disk_path)).toBe(true);
  });
  const live = await withQmp(stateDir, (q) => q.execute("query-block"));
  expect(live.find((b) => (b.qdev ?? "").includes("disk0-dev"))?.inserted?.file).toBe(done.disk_path);
});

test("a backup equals the disk at the snapshot instant though the guest writes on", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "bk1", fx.templateId)).id);
  const stateDir = vm.state_dir!;
  await guestFill(stateDir, 0, "4M", 0x41);
  // The reference: a flattened copy taken while the VM is paused, right before the backup's snapshot.
  const ref = path.join(t.dir, "bk1-ref.qcow2");
  // Backups go into a datastore's folder (or an engine --backup-dir), never anywhere else.
  const target = path.join(t.dir, "ds", "bk1.qcow2");
  await withQmp(stateDir, (q) => q.execute("stop"));
  await run("qemu-img", ["convert", "-U", "-O", "qcow2", vm.disk_path, ref]);
  // The backup job snapshots the paused VM first; writes that follow land after the instant.
  const job = await t.client.vms.backup(vm.id, { target_path: target, format: "qcow2", speed_bytes_per_sec: 2 * 1024 * 1024 });
  await waitFor(async () => (await t.client.snapshots.list(vm.id)).length === 1 || (await t.client.jobs.get(job.id)).state !== "running");
  await withQmp(stateDir, (q) => q.execute("cont"));
  let writing = true;
  const writer = (async () => {
    for (let n = 0; writing; n++) await guestWrite(stateDir, (n % 64) * SLOT, 0x99);
  })();
  const done = await t.client.waitJob(job.id, { timeoutMs: 120_000 }).finally(() => (writing = false));
  await writer;
  expect(done.progress.done).toBe(100);
  expect((await run("qemu-img", ["compare", "-U", ref, target]).then(() => 0, (e: { code: number }) => e.code))).toBe(0);
  expect((await t.client.snapshots.list(vm.id)).length).toBe(0);
  const after = (await t.client.vms.get(vm.id))!;
  expect(after.chain_depth).toBe(vm.chain_depth);
  expect(after.power_state).toBe("running");
  // Raw format, and bad targets.
  const raw = path.join(t.dir, "ds", "bk1.raw");
  await t.client.waitJob((await t.client.vms.backup(vm.id, { target_path: raw, format: "raw" })).id, { timeoutMs: 60_000 });
  expect((await fs.stat(raw)).size).toBe(32 * 1024 * 1024);
  expect((await apiError(t.client.vms.backup(vm.id, { target_path: raw }))).status).toBe(409);
  expect((await apiError(t.client.vms.backup(vm.id, { target_path: "rel/x.qcow2" }))).field).toBe("target_path");
  expect((await apiError(t.client.vms.backup(vm.id, { target_path: path.join(t.dir, "ds", "clonefleet", "x.qcow2") }))).field).toBe("target_path");
});

test("three snapshots: deleting the middle one live commits the right layer; every point in time and the live disk stay intact", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "mid", fx.templateId)).id);
  const sd = vm.state_dir!;
  const snaps: SnapshotWire[] = [];
  for (let i = 0; i < 3; i++) {
    await guestWrite(sd, i * SLOT, 0x21 + i);
    snaps.push(await snap(t.client, vm.id, `m${i}`));
  }
  await guestWrite(sd, 3 * SLOT, 0x24);
  const v = (await t.client.vms.get(vm.id))!;
  expect(v.chain_depth).toBe(vm.chain_depth + 3);
  const s3Before = (await t.client.snapshots.get(snaps[2].id))!;
  const job = await consolidate(t.client, snaps[1].id);
  expect((job.result as { method: string }).method).toBe("live-commit");
  const after = (await t.client.vms.get(vm.id))!;
  expect(after.chain_depth).toBe(v.chain_depth - 1);
  // The middle snapshot's file now holds the third snapshot's point in time.
  const s3 = (await t.client.snapshots.get(snaps[2].id))!;
  expect(s3.frozen_disk_path).toBe(snaps[1].frozen_disk_path);
  expect(s3.content_id).not.toBe(s3Before.content_id);
  expect(after.disk_layers![0].parent_content_id).toBe(s3.content_id);
  await expect(fs.stat(snaps[2].frozen_disk_path)).rejects.toThrow();
  await pausedRead(sd, async () => {
    const all = new Map([0, 1, 2, 3].map((i) => [i * SLOT, 0x21 + i]));
    expect(await mismatches(after.disk_path, all)).toEqual([]);
    expect(await mismatches(s3.frozen_disk_path, new Map([0, 1, 2].map((i) => [i * SLOT, 0x21 + i])))).toEqual([]);
    expect(await mismatches(snaps[0].frozen_disk_path, new Map([[0, 0x21]]))).toEqual([]);
    for (const f of after.disk_chain.slice(0, 3)) expect(await cleanCheck(f)).toBe(true);
    const header = JSON.parse((await run("qemu-img", ["info", "-U", "--output=json", after.disk_path])).stdout) as { "backing-filename": string };
    expect(header["backing-filename"]).toBe(s3.frozen_disk_path);
  });
  // Then the oldest and the newest, live: back to the VM's own chain depth.
  await consolidate(t.client, snaps[0].id);
  await consolidate(t.client, snaps[2].id);
  const flat = (await t.client.vms.get(vm.id))!;
  expect(flat.chain_depth).toBe(vm.chain_depth);
  await pausedRead(sd, async () => {
    expect(await mismatches(flat.disk_path, new Map([0, 1, 2, 3].map((i) => [i * SLOT, 0x21 + i])))).toEqual([]);
    expect(await cleanCheck(flat.disk_path)).toBe(true);
  });
});

test("stopped VM: snapshots with qemu-img create -b, offline consolidation of the middle and newest", async () => {
  const vm = await createVm(t.client, "off", fx.templateId);
  const started = await t.client.vms.start(vm.id);
  await guestWrite(started.state_dir!, 0, 0x51);
  await t.client.vms.stop(vm.id, { timeout_seconds: 0 });
  const a = await snap(t.client, vm.id, "a");
  await t.client.vms.start(vm.id);
  await guestWrite(started.state_dir!, SLOT, 0x52);
  await t.client.vms.stop(vm.id, { timeout_seconds: 0 });
  const b = await snap(t.client, vm.id, "b");
  const v = (await t.client.vms.get(vm.id))!;
  expect(v.chain_depth).toBe(vm.chain_depth + 2);
  const j1 = await consolidate(t.client, a.id);
  expect((j1.result as { method: string }).method).toBe("offline-commit");
  const j2 = await consolidate(t.client, b.id);
  expect((j2.result as { method: string }).method).toBe("offline-commit");
  const after = (await t.client.vms.get(vm.id))!;
  expect(after.chain_depth).toBe(vm.chain_depth);
  expect(after.disk_path).toBe(a.frozen_disk_path);
  expect(await mismatches(after.disk_path, new Map([[0, 0x51], [SLOT, 0x52]]))).toEqual([]);
  expect(await cleanCheck(after.disk_path)).toBe(true);
  // It still starts on the consolidated chain.
  expect((await t.client.vms.start(vm.id)).power_state).toBe("running");
  await t.client.vms.stop(vm.id, { timeout_seconds: 0 });
});

test("cancelling a rate-limited live commit leaves the VM running on a consistent chain", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "cxl", bigTemplateId)).id);
  const sd = vm.state_dir!;
  await guestWrite(sd, 0, 0x61);
  const s = await snap(t.client, vm.id, "c1");
  await guestFill(sd, SLOT, "48M", 0x62);
  const job = await t.client.snapshots.delete(s.id, { speedBytesPerSec: 1024 * 1024 });
  await waitFor(async () => ((await t.client.jobs.get(job.id))?.progress.done ?? 0) > 0);
  await t.client.jobs.cancel(job.id);
  const end = await t.client.waitJob(job.id).then((j) => ({ state: j.state }), (e: { state?: string }) => ({ state: e.state }));
  expect(end?.state).toBe("cancelled");
  const after = (await t.client.vms.get(vm.id))!;
  expect(after.power_state).toBe("running");
  expect(await withQmp(sd, async (q) => (await q.execute("query-block-jobs")).length)).toBe(0);
  const kept = (await t.client.snapshots.get(s.id))!;
  expect(kept.state).toBe("drifted");
  expect(after.chain_depth).toBe(vm.chain_depth + 1);
  await guestWrite(sd, 2 * SLOT, 0x63);
  await pausedRead(sd, async () => {
    const want = new Map<number, number>([[0, 0x61], [2 * SLOT, 0x63]]);
    for (let i = 1; i < 2; i++) want.set(i * SLOT, 0x62);
    want.set(200 * SLOT, 0x62);
    expect(await mismatches(after.disk_path, want)).toEqual([]);
    for (const f of after.disk_chain.slice(0, 2)) expect(await cleanCheck(f)).toBe(true);
  });
  // Deleting it again finishes the consolidation.
  await consolidate(t.client, s.id);
  expect((await t.client.vms.get(vm.id))!.chain_depth).toBe(vm.chain_depth);
});

async function waitFor(probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
