import { createHash } from "node:crypto";
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import type { InstantCloneResultWire, JobWire, ParentWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { startTestEngine, type TestEngine } from "../support/engine";
import { chainHas, checkClean, createVm, forkVm, killAllVms, qmpOnce, vmFixture, writeInVm } from "../support/vms";

// Real QEMU (TCG here), firmware-only VMs: the firmware idles, a real VM with RAM and devices.
jest.setTimeout(180_000);

const MEMORY_MB = 64;
let t: TestEngine;
let fx: { datastoreId: string; templateId: string };
let tmpfsDir: string;

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "tcg" } });
  tmpfsDir = t.engine.runner.settings.parentTmpfsDir!;
  fx = await vmFixture(t.client, t.dir, MEMORY_MB);
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
  await fs.rm(tmpfsDir, { recursive: true, force: true });
});

async function runningVm(name: string): Promise<string> {
  const vm = await createVm(t.client, name, fx.templateId);
  return (await t.client.vms.start(vm.id)).id;
}

async function makeParent(sourceVmId: string, name: string, ramLocation?: "tmpfs" | "datastore"): Promise<ParentWire> {
  const job = await t.client.parents.create({ source_vm_id: sourceVmId, name, ...(ramLocation ? { ram_location: ramLocation } : {}) });
  return (await t.client.waitJob(job.id, { timeoutMs: 60_000 })).result as ParentWire;
}

async function clone(parentId: string, count: number, prefix: string, extra: { start_paused?: boolean } = {}): Promise<InstantCloneResultWire> {
  const job = await t.client.parents.clone(parentId, { count, name_prefix: prefix, ...extra });
  return (await t.client.waitJob(job.id, { timeoutMs: 120_000 })).result as InstantCloneResultWire;
}

async function sha256(file: string): Promise<string> {
  return createHash("sha256").update(await fs.readFile(file)).digest("hex");
}

async function deleteAll(vmIds: string[]): Promise<void> {
  for (const id of vmIds) await t.client.vms.delete(id);
}

test("a parent captured from a running VM: RAM file, device state and frozen disk; the source ends stopped on a new overlay", async () => {
  const srcId = await runningVm("cap-src");
  const before = (await t.client.vms.get(srcId))!;
  const parent = await makeParent(srcId, "cap");
  expect(parent).toMatchObject({ name: "cap", source_vm_id: srcId, state: "ready", ram_location: "tmpfs", memory_bytes: MEMORY_MB * 1024 * 1024, accel: "tcg", children: [] });
  expect(parent.ram_path.startsWith(tmpfsDir + "/")).toBe(true);
  expect((await fs.stat(parent.ram_path)).size).toBe(MEMORY_MB * 1024 * 1024);
  expect((await fs.stat(parent.device_state_path)).size).toBeLessThan(2 * 1024 * 1024);
  // The frozen layer is the source's former top, moved into the parent's own folder.
  expect(parent.disk_path).toContain(`/clonefleet/parents/${parent.id}/`);
  expect(existsSync(before.disk_path)).toBe(false);
  expect(await checkClean(parent.disk_path)).toBe(true);
  // The source's old RAM file went to the parent: nothing is left in its state folder.
  expect(existsSync(path.join(before.state_dir!, "ram"))).toBe(false);

  const src = (await t.client.vms.get(srcId))!;
  expect(src.power_state).toBe("stopped");
  expect(src.disk_chain[1]).toBe(parent.disk_path);
  expect(src.disk_path).not.toBe(before.disk_path);
  expect((await t.client.parents.list()).map((p) => p.id)).toContain(parent.id);

  // The source can be started again (a cold boot on its new overlay) and deleted; the parent stays whole.
  expect((await t.client.vms.start(srcId)).power_state).toBe("running");
  await t.client.vms.delete(srcId);
  const again = (await t.client.parents.get(parent.id))!;
  expect(again.state).toBe("ready");
  expect(existsSync(again.disk_path)).toBe(true);
  await t.client.parents.delete(parent.id);
  expect(await t.client.parents.get(parent.id)).toBeNull();
  expect(existsSync(parent.ram_path)).toBe(false);
  expect(existsSync(path.dirname(parent.ram_path))).toBe(false);
  expect(existsSync(path.dirname(parent.disk_path))).toBe(false);
});

test("children start at the parent's captured RAM, each on its own delta; writes in one reach neither the parent nor a sibling", async () => {
  const srcId = await runningVm("kids-src");
  const parent = await makeParent(srcId, "kids", "datastore");
  expect(parent.ram_path).toBe(path.join(path.dirname(parent.disk_path), "ram"));
  const ramHash = await sha256(parent.ram_path);

  const r = await clone(parent.id, 2, "kid", { start_paused: true });
  expect(r.parent_id).toBe(parent.id);
  expect(r.children.map((c) => c.name)).toEqual(["kid-1", "kid-2"]);
  const [a, b] = r.children;
  for (const c of r.children) {
    expect(c).toMatchObject({ instant_clone_of: parent.id, power_state: "running", provisioned_by: "instant-clone", chain_depth: parent.disk_chain.length + 1 });
    expect(c.disk_chain[1]).toBe(parent.disk_path);
    expect(c.ready_ms).toBeGreaterThan(0);
    expect(c.start_ms).toBeGreaterThan(0);
  }
  expect(a.disk_path).not.toBe(b.disk_path);
  expect((await t.client.parents.get(parent.id))!.children.sort()).toEqual([a.id, b.id].sort());

  // Paused at the captured instant: each child's guest RAM equals the parent's RAM file, except
  // the legacy window 640 KiB–1 MiB, where the chipset maps ROM and VGA over RAM for a reader.
  const ram = await fs.readFile(parent.ram_path);
  for (const c of r.children) {
    expect((await qmpOnce<{ status: string }>(c.state_dir!, "query-status")).status).toBe("paused");
    const dump = path.join(t.dir, `${c.name}.ram`);
    await qmpOnce(c.state_dir!, "pmemsave", { val: 0, size: MEMORY_MB * 1024 * 1024, filename: dump });
    const mem = await fs.readFile(dump);
    expect(mem.length).toBe(ram.length);
    expect(mem.subarray(0, 0xa0000).equals(ram.subarray(0, 0xa0000))).toBe(true);
    expect(mem.subarray(0x100000).equals(ram.subarray(0x100000))).toBe(true);
  }

  for (const c of r.children) await qmpOnce(c.state_dir!, "cont");
  await writeInVm(a.state_dir!, "1M", 0x6b);
  // `stop` flushes the images; read them then.
  for (const c of r.children) await qmpOnce(c.state_dir!, "stop");
  expect(await chainHas(a.disk_path, "1M", 0x6b)).toBe(true);
  expect(await chainHas(b.disk_path, "1M", 0x6b)).toBe(false);
  expect(await chainHas(parent.disk_path, "1M", 0x6b)).toBe(false);
  // Children map the RAM file privately: running them changes not a byte of it.
  await new Promise((res) => setTimeout(res, 500));
  expect(await sha256(parent.ram_path)).toBe(ramHash);
  for (const c of r.children) expect(await checkClean(c.disk_path)).toBe(true);

  // Deleting a parent that has children is refused, naming them; the parent stays whole.
  const refused = await apiError(t.client.parents.delete(parent.id));
  expect(refused.status).toBe(409);
  expect(refused.code).toBe("CF_CONFLICT");
  expect(refused.message).toContain("kid-1");
  expect(refused.message).toContain("kid-2");
  expect((await t.client.parents.get(parent.id))!.state).toBe("ready");

  // With wait the deletion waits until the children are gone, then removes the parent's files.
  const waiting = await t.client.parents.deleteWhenChildrenGone(parent.id);
  await new Promise((res) => setTimeout(res, 400));
  expect((await t.client.jobs.get(waiting.id)).state).toBe("running");
  expect(existsSync(parent.ram_path)).toBe(true);
  await deleteAll([a.id, b.id]);
  await t.client.waitJob(waiting.id, { timeoutMs: 30_000 });
  expect(await t.client.parents.get(parent.id)).toBeNull();
  expect(existsSync(parent.ram_path)).toBe(false);
  expect(existsSync(parent.device_state_path)).toBe(false);
  // The source VM's disk still needs the frozen layer: it moved into the VM's own folder.
  const src = (await t.client.vms.get(srcId))!;
  expect(src.disk_chain[1].startsWith(src.home_dir + "/")).toBe(true);
  expect(await checkClean(src.disk_path)).toBe(true);
  expect((await t.client.vms.start(srcId)).power_state).toBe("running");
  await t.client.vms.delete(srcId);
});

test("eight idle children share the parent's memory: each one's PSS is well below the guest's RAM", async () => {
  const srcId = await runningVm("pss-src");
  const parent = await makeParent(srcId, "pss");
  const r = await clone(parent.id, 8, "pss");
  // Let them idle a moment, as a fleet of clones would.
  await new Promise((res) => setTimeout(res, 1000));
  const guestBytes = MEMORY_MB * 1024 * 1024;
  const figures: { rss: number; pss: number }[] = [];
  for (const c of r.children) {
    const rollup = await fs.readFile(`/proc/${c.pid}/smaps_rollup`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(rollup)![1]) * 1024;
    figures.push({ rss: kb("Rss"), pss: kb("Pss") });
  }
  console.log(`8 idle instant clones of a ${MEMORY_MB} MiB guest: PSS ${figures.map((f) => (f.pss / 2 ** 20).toFixed(1)).join(", ")} MiB; RSS ${figures.map((f) => (f.rss / 2 ** 20).toFixed(1)).join(", ")} MiB`);
  for (const f of figures) expect(f.pss).toBeLessThan(guestBytes / 2);
  // Pages are shared among them: together they hold fewer pages than their RSS adds up to.
  expect(figures.reduce((s, f) => s + f.pss, 0)).toBeLessThan(figures.reduce((s, f) => s + f.rss, 0));
  await deleteAll(r.children.map((c) => c.id));
  await t.client.parents.delete(parent.id);
  await t.client.vms.delete(srcId);
});

test("bad input is refused with a clear error and changes nothing", async () => {
  const stopped = await createVm(t.client, "bad-stopped", fx.templateId);
  const srcId = await runningVm("bad-src");
  const parentsBefore = (await t.client.parents.list()).length;

  let e = await apiError(t.client.parents.create({ source_vm_id: "vm-nope", name: "p" }));
  expect([e.status, e.code, e.field]).toEqual([404, "CF_NOT_FOUND", "source_vm_id"]);
  e = await apiError(t.client.parents.create({ source_vm_id: stopped.id, name: "p" }));
  expect([e.status, e.code, e.field]).toEqual([409, "CF_CONFLICT", "source_vm_id"]);
  expect(e.message).toContain("not running");
  e = await apiError(t.client.parents.create({ source_vm_id: srcId, name: "a/b" }));
  expect([e.status, e.field]).toEqual([400, "name"]);
  e = await apiError(t.client.parents.create({ source_vm_id: srcId, name: "p", ram_location: "nvme" }));
  expect(e.status).toBe(400);
  expect(e.message).toContain("ram_location");
  expect((await t.client.parents.list()).length).toBe(parentsBefore);
  expect((await t.client.vms.get(srcId))!.power_state).toBe("running");

  const parent = await makeParent(srcId, "bad-parent");
  e = await apiError(t.client.parents.create({ source_vm_id: (await runningVm("bad-src2")), name: "bad-parent" }));
  expect([e.status, e.code, e.field]).toEqual([409, "CF_CONFLICT", "name"]);
  e = await apiError(t.client.parents.create({ source_vm_id: srcId, name: "p2" }));
  expect([e.status, e.field]).toEqual([409, "source_vm_id"]);

  e = await apiError(t.client.parents.clone("parent-nope", { count: 1, name_prefix: "x" }));
  expect([e.status, e.code, e.field]).toEqual([404, "CF_NOT_FOUND", "id"]);
  e = await apiError(t.client.parents.clone(parent.id, { count: 0, name_prefix: "x" }));
  expect([e.status, e.code, e.field]).toEqual([400, "CF_INVALID_FIELD", "count"]);
  e = await apiError(t.client.parents.clone(parent.id, { count: 257, name_prefix: "x" }));
  expect([e.status, e.field]).toEqual([400, "count"]);
  e = await apiError(t.client.parents.clone(parent.id, { count: 1, name_prefix: "../x" }));
  expect([e.status, e.field]).toEqual([400, "name_prefix"]);
  e = await apiError(t.client.parents.clone(parent.id, { count: 1, name_prefix: "x", concurrency: 0 }));
  expect([e.status, e.field]).toEqual([400, "concurrency"]);
  await createVm(t.client, "taken-2", fx.templateId);
  e = await apiError(t.client.parents.clone(parent.id, { count: 3, name_prefix: "taken" }));
  expect([e.status, e.code, e.field]).toEqual([409, "CF_CONFLICT", "name_prefix"]);
  expect(e.message).toContain("taken-2");
  e = await apiError(t.client.parents.clone(parent.id, { name_prefix: "x" }));
  expect([e.status, e.field]).toEqual([400, "count"]);
  e = await apiError(t.client.parents.clone(parent.id, { names: ["ok", "a/b"] }));
  expect([e.status, e.field]).toEqual([400, "names[1]"]);
  e = await apiError(t.client.parents.clone(parent.id, { names: ["twice", "twice"] }));
  expect([e.status, e.field]).toEqual([400, "names[1]"]);
  e = await apiError(t.client.parents.clone(parent.id, { names: ["taken-2"] }));
  expect([e.status, e.code, e.field]).toEqual([409, "CF_CONFLICT", "names"]);
  expect((await t.client.vms.list()).filter((v) => v.instant_clone_of === parent.id)).toEqual([]);
  expect(await t.client.parents.get("parent-nope")).toBeNull();
  e = await apiError(t.client.parents.delete("parent-nope"));
  expect(e.status).toBe(404);

  // A running instant clone has no RAM file of its own: it cannot be captured.
  const kid = (await clone(parent.id, 1, "bad-kid")).children[0];
  e = await apiError(t.client.parents.create({ source_vm_id: kid.id, name: "from-kid" }));
  expect([e.status, e.field]).toEqual([409, "source_vm_id"]);
  expect(e.message).toContain("instant clone");
  await t.client.vms.delete(kid.id);

  // A parent whose RAM file vanished is reported drifted and cannot be cloned.
  await fs.rename(parent.ram_path, `${parent.ram_path}.away`);
  expect((await t.client.parents.get(parent.id))!.state).toBe("drifted");
  e = await apiError(t.client.parents.clone(parent.id, { count: 1, name_prefix: "drift" }));
  expect([e.status, e.field]).toEqual([409, "id"]);
  await fs.rename(`${parent.ram_path}.away`, parent.ram_path);
  await t.client.parents.delete(parent.id);
});

test("a tmpfs folder for parents' RAM that another user owns is refused: the capture fails naming it, the source runs on, nothing is made", async () => {
  const srcId = await runningVm("src-unsafe-tmpfs");
  await fs.mkdir(tmpfsDir, { recursive: true, mode: 0o700 });
  const before = await fs.readdir(tmpfsDir);
  // What another local user could do first: own the engine's folder (uid 65534 is nobody).
  await fs.chown(tmpfsDir, 65534, 65534);
  try {
    const job = await t.client.parents.create({ source_vm_id: srcId, name: "unsafe-tmpfs" });
    const err = await t.client.waitJob(job.id, { timeoutMs: 60_000 }).catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: "CF_INTERNAL", message: expect.stringContaining(`${tmpfsDir} belongs to uid 65534`) });
    expect((err as { message: string }).message).toContain("another local user could read or replace guest memory");
    expect((await fs.lstat(tmpfsDir)).uid).toBe(65534);
    expect(await fs.readdir(tmpfsDir)).toEqual(before);
    expect((await t.client.parents.list()).filter((p) => p.name === "unsafe-tmpfs")).toEqual([]);
    expect((await t.client.vms.get(srcId))!.power_state).toBe("running");
  } finally {
    await fs.chown(tmpfsDir, process.getuid!(), process.getgid!());
  }
  await t.client.vms.delete(srcId);
});

test("a running instant clone forks like any running VM: the child gets its RAM and disk, both run on", async () => {
  const srcId = await runningVm("fork-src");
  const parent = await makeParent(srcId, "forkable");
  const kid = (await clone(parent.id, 1, "fk")).children[0];
  await writeInVm(kid.state_dir!, "0", 0x3c);

  const child = await forkVm(t.client, kid.id, "fk-child", true);
  expect(child).toMatchObject({ forked_from: kid.id, power_state: "running" });
  // Paused at the stun: the child's RAM is the clone's, byte for byte (the clone's own pages and the parent file's).
  const dumps = [path.join(t.dir, "fk.ram"), path.join(t.dir, "fk-child.ram")];
  await qmpOnce(kid.state_dir!, "pmemsave", { val: 0, size: MEMORY_MB * 1024 * 1024, filename: dumps[0] });
  await qmpOnce(child.state_dir!, "pmemsave", { val: 0, size: MEMORY_MB * 1024 * 1024, filename: dumps[1] });
  const [a, b] = await Promise.all(dumps.map((d) => fs.readFile(d)));
  expect(a.length).toBe(MEMORY_MB * 1024 * 1024);
  expect(Buffer.compare(a, b)).toBe(0);
  await Promise.all(dumps.map((d) => fs.rm(d)));
  for (const v of [kid, child]) await qmpOnce(v.state_dir!, "cont");

  await writeInVm(child.state_dir!, "1M", 0x4d);
  for (const v of [kid, child]) await qmpOnce(v.state_dir!, "stop");
  expect(await chainHas(child.disk_path, "0", 0x3c)).toBe(true);
  expect(await chainHas(child.disk_path, "1M", 0x4d)).toBe(true);
  expect(await chainHas(kid.disk_path, "1M", 0x4d)).toBe(false);
  // The clone's delta was copied: the child rests on the parent's frozen layer, depth bounded.
  expect(child.disk_chain[1]).toBe(parent.disk_path);
  expect(await checkClean(child.disk_path)).toBe(true);
  for (const v of [kid, child]) await qmpOnce(v.state_dir!, "cont");
  expect((await t.client.vms.get(kid.id))!.power_state).toBe("running");

  await deleteAll([child.id, kid.id, srcId]);
  await t.client.parents.delete(parent.id);
});

test("the engine's jobs list the work: a capture and a clone request are jobs with results", async () => {
  const srcId = await runningVm("jobs-src");
  const job: JobWire = await t.client.parents.create({ source_vm_id: srcId, name: "jobs" });
  expect(job.kind).toBe("parent.create");
  const parent = (await t.client.waitJob(job.id)).result as ParentWire;
  const cj = await t.client.parents.clone(parent.id, { names: ["exactly-this"] });
  expect(cj.kind).toBe("vm.instant-clone");
  const r = (await t.client.waitJob(cj.id)).result as InstantCloneResultWire;
  expect(r.children.map((c) => c.name)).toEqual(["exactly-this"]);
  expect((await t.client.vms.get(r.children[0].id))!.instant_clone_of).toBe(parent.id);
  await deleteAll([r.children[0].id, srcId]);
  await t.client.parents.delete(parent.id);
});
