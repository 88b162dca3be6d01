import { promises as fs } from "node:fs";
import * as path from "node:path";
import { startTestEngine, type TestEngine } from "../support/engine";
import { apiError } from "../support/api-error";
import { chainHas, checkClean, createVm, forkVm, killAllVms, qmpOnce, vmFixture, pidGoneSoon, writeInVm } from "../support/vms";

// Real QEMU (TCG here), firmware-only VMs with 64 MiB of RAM: the firmware idles, a real VM.
jest.setTimeout(120_000);

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "tcg" } });
  fx = await vmFixture(t.client, t.dir);
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
});

test("start, status and stop a VM; starting renews its top layer's content ID", async () => {
  const vm = await createVm(t.client, "power", fx.templateId);
  expect(vm.power_state).toBe("stopped");
  const started = await t.client.vms.start(vm.id);
  expect(started.power_state).toBe("running");
  expect(started.accel).toBe("tcg");
  expect(started.pid).toEqual(expect.any(Number));
  expect(started.content_id).not.toBe(vm.content_id);
  expect(started.disk_layers?.[0].content_id).toBe(started.content_id);
  expect((await t.client.vms.start(vm.id)).pid).toBe(started.pid);
  const stopped = await t.client.vms.stop(vm.id, { timeout_seconds: 0 });
  expect(stopped.power_state).toBe("stopped");
  expect(stopped.pid).toBeNull();
  await t.client.vms.delete(vm.id);
});

test("fork of a running VM: disk data before the fork is inherited, writes after it are not shared, RAM equals at the stun", async () => {
  const parent = await t.client.vms.start((await createVm(t.client, "fp", fx.templateId)).id);
  await writeInVm(parent.state_dir!, "0", 0x11);

  const child = await forkVm(t.client, parent.id, "fc", true);
  expect(child.forked_from).toBe(parent.id);
  expect(child.stun_ms).toEqual(expect.any(Number));
  const p1 = (await t.client.vms.get(parent.id))!;
  expect(p1.power_state).toBe("running");
  expect(child.power_state).toBe("running");
  // A full copy is a base: frozen under two overlays, both chains of depth 2 on it.
  expect(p1.chain_depth).toBe(2);
  expect(child.chain_depth).toBe(2);
  expect(child.disk_chain[1]).toBe(p1.disk_chain[1]);
  expect(child.disk_layers?.[0].parent_content_id).toBe(p1.disk_layers?.[1].content_id);

  // Both are paused at the stun (the parent `postmigrate`: its state was saved, vCPUs stopped): their RAM must be equal byte for byte.
  expect(["paused", "postmigrate"]).toContain((await qmpOnce<{ status: string }>(p1.state_dir!, "query-status")).status);
  const dumps = [path.join(t.dir, "p.ram"), path.join(t.dir, "c.ram")];
  await qmpOnce(p1.state_dir!, "pmemsave", { val: 0, size: 64 * 1024 * 1024, filename: dumps[0] });
  await qmpOnce(child.state_dir!, "pmemsave", { val: 0, size: 64 * 1024 * 1024, filename: dumps[1] });
  const [a, b] = await Promise.all(dumps.map((d) => fs.readFile(d)));
  expect(a.length).toBe(64 * 1024 * 1024);
  expect(Buffer.compare(a, b)).toBe(0);
  await Promise.all(dumps.map((d) => fs.rm(d)));
  await qmpOnce(p1.state_dir!, "cont");
  await qmpOnce(child.state_dir!, "cont");
  expect((await qmpOnce<{ status: string }>(child.state_dir!, "query-status")).status).toBe("running");

  await writeInVm(p1.state_dir!, "1M", 0x22);
  await writeInVm(child.state_dir!, "2M", 0x33);
  // `stop` flushes the images; read them then.
  await qmpOnce(p1.state_dir!, "stop");
  await qmpOnce(child.state_dir!, "stop");
  expect(await chainHas(child.disk_path, "0", 0x11)).toBe(true);
  expect(await chainHas(p1.disk_path, "0", 0x11)).toBe(true);
  expect(await chainHas(p1.disk_path, "1M", 0x22)).toBe(true);
  expect(await chainHas(child.disk_path, "1M", 0x22)).toBe(false);
  expect(await chainHas(child.disk_path, "2M", 0x33)).toBe(true);
  expect(await chainHas(p1.disk_path, "2M", 0x33)).toBe(false);
  await qmpOnce(p1.state_dir!, "cont");
  await qmpOnce(child.state_dir!, "cont");

  // A fork of the child (a delta): the grandchild gets a copy of it on the same base.
  const grand = await forkVm(t.client, child.id, "fg");
  expect(grand.chain_depth).toBe(2);
  expect(grand.disk_chain[1]).toBe(child.disk_chain[1]);
  expect(await chainHas(grand.disk_path, "2M", 0x33)).toBe(true);
  for (const v of [parent.id, child.id, grand.id]) await t.client.vms.stop(v, { timeout_seconds: 0 });
});

test("ten generations of fork-of-fork keep every chain at depth 2 or less, every image clean, all running", async () => {
  const root = await t.client.vms.start((await createVm(t.client, "gen0", fx.templateId)).id);
  const ids = [root.id];
  let prev = root.id;
  for (let g = 1; g <= 10; g++) {
    const c = await forkVm(t.client, prev, `gen${g}`);
    ids.push(c.id);
    prev = c.id;
  }
  for (const id of ids) {
    const v = (await t.client.vms.get(id))!;
    expect(v.chain_depth).toBeLessThanOrEqual(2);
    expect(v.power_state).toBe("running");
    for (const layer of v.disk_chain) expect(await checkClean(layer)).toBe(true);
  }
  for (const id of ids) await t.client.vms.stop(id, { timeout_seconds: 0 });
});

test("a stopped VM forks its disks only", async () => {
  const vm = await createVm(t.client, "cold", fx.templateId, "linked");
  const child = await forkVm(t.client, vm.id, "cold-child");
  expect(child.power_state).toBe("stopped");
  expect(child.chain_depth).toBe(2);
  expect(child.disk_chain[1]).toBe(vm.disk_chain[1]);
  expect(await checkClean(child.disk_path)).toBe(true);
});

test("bad fork requests are refused naming the field", async () => {
  const vm = await createVm(t.client, "bad-parent", fx.templateId, "linked");
  expect(await apiError(t.client.vms.fork("vm-0000000000000000", { name: "x1" }))).toMatchObject({ status: 404, field: "id" });
  expect(await apiError(t.client.vms.fork(vm.id, { name: "bad-parent" }))).toMatchObject({ status: 409, field: "name" });
  expect(await apiError(t.client.vms.fork(vm.id, { name: "x2", host_id: "elsewhere" }))).toMatchObject({ field: "host_id" });
  expect(await apiError(t.client.vms.fork(vm.id, { name: "../x" }))).toMatchObject({ status: 400, field: "name" });
  expect(await apiError(t.client.vms.start("vm-0000000000000000"))).toMatchObject({ status: 404, field: "id" });
  await t.client.vms.delete(vm.id);
  expect(await apiError(t.client.vms.fork(vm.id, { name: "x3" }))).toMatchObject({ status: 404, field: "id" });
});

test("a fleet with power_state running powers its members on", async () => {
  const job = await t.client.fleets.create({ template_id: fx.templateId, size: 2, datastore_ids: [fx.datastoreId], name_prefix: "pwr", clone_mode: "linked", power_state: "running" });
  const applied = (await t.client.waitJob(job.id)).result as { fleet: { id: string } };
  const members = await t.client.vms.list({ fleetId: applied.fleet.id });
  expect(members).toHaveLength(2);
  for (const m of members) expect(m).toMatchObject({ power_state: "running", accel: "tcg" });
  // Deleting the fleet stops its running members' QEMU processes along with their disks.
  await t.client.fleets.delete(applied.fleet.id);
  for (const m of members) expect(await pidGoneSoon(m.pid!)).toBe(true);
  expect(await t.client.vms.list({ fleetId: applied.fleet.id })).toEqual([]);
});

test("an engine restart reattaches to a running VM and flags one whose QEMU died", async () => {
  const a = await t.client.vms.start((await createVm(t.client, "keep", fx.templateId)).id);
  const b = await t.client.vms.start((await createVm(t.client, "dies", fx.templateId)).id);
  const ramOf = (vm: { state_dir?: string | null }) => fs.readlink(path.join(vm.state_dir!, "ram"));
  const [ramA, ramB] = [await ramOf(a), await ramOf(b)];
  await t.engine.close();
  process.kill(-b.pid!, "SIGKILL");
  await new Promise((r) => setTimeout(r, 300));
  const again = await startTestEngine({ dir: t.dir, engine: { accel: "tcg" } });
  // The dead VM's guest RAM file on the tmpfs is freed; the live one's stays.
  expect(again.engine.recovery.vmRuntime.removedRamFiles).toContain(ramB);
  await expect(fs.stat(ramB)).rejects.toMatchObject({ code: "ENOENT" });
  expect((await fs.stat(ramA)).size).toBeGreaterThan(0);
  t = { ...again, dir: t.dir, stop: async () => { await again.engine.close(); await fs.rm(t.dir, { recursive: true, force: true }); } };
  expect(again.engine.recovery.vmRuntime.reattachedVms).toContain(a.id);
  expect(again.engine.recovery.vmRuntime.crashedVms).toContain(b.id);
  const a2 = (await t.client.vms.get(a.id))!;
  expect(a2.power_state).toBe("running");
  expect(a2.pid).toBe(a.pid);
  const b2 = (await t.client.vms.get(b.id))!;
  expect(b2.power_state).toBe("stopped");
  expect(b2.crashed).toBe(true);
  expect((await t.client.vms.start(b.id)).crashed).toBe(false);
  await t.client.vms.stop(a.id, { timeout_seconds: 0 });
  await t.client.vms.stop(b.id, { timeout_seconds: 0 });
});
