import { promises as fs, existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { InstantCloneResultWire, ParentWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, killAllVms, pidAlive, pidGoneSoon, qmpOnce, vmFixture } from "../support/vms";
import { waitFor } from "../support/wait";

// Pre-started children (warm_count): real QEMU processes (TCG), firmware-only VMs.
jest.setTimeout(180_000);

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };
let vmsRoot: string;
let stopped = false;

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "tcg", warmChildren: { intervalMs: 200 } } });
  fx = await vmFixture(t.client, t.dir, 64);
  vmsRoot = path.join(t.stateDir, "vms");
});

afterAll(async () => {
  await killAllVms(vmsRoot);
  if (!stopped) await t.stop();
  await fs.rm(t.engine.runner.settings.parentTmpfsDir!, { recursive: true, force: true });
});

/** A parent's pre-started children on this host: QEMU state folders no VM record owns, on its RAM file, with their pid. */
async function warmOnDisk(parent: ParentWire): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const id of await fs.readdir(vmsRoot).catch(() => [] as string[])) {
    if (await t.client.vms.get(id)) continue;
    const [pidFile, record] = [path.join(vmsRoot, id, "qemu.pid"), path.join(vmsRoot, id, "vm.json")];
    if (!existsSync(pidFile) || !existsSync(record)) continue;
    if (JSON.parse(readFileSync(record, "utf8")).spec.memoryFile?.path !== parent.ram_path) continue;
    found.set(id, Number(readFileSync(pidFile, "utf8").trim()));
  }
  return found;
}

/** The files a process holds open. */
async function openFiles(pid: number): Promise<string[]> {
  const fds = await fs.readdir(`/proc/${pid}/fd`);
  return Promise.all(fds.map((fd) => fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => "")));
}

async function warmReady(parentId: string, n: number): Promise<ParentWire> {
  return waitFor(`${n} pre-started children of ${parentId}`, async () => {
    const p = (await t.client.parents.get(parentId))!;
    return p.warm_ready === n ? p : null;
  }, 60_000);
}

async function makeParent(name: string, warmCount: number): Promise<ParentWire> {
  const vm = await createVm(t.client, `${name}-src`, fx.templateId);
  await t.client.vms.start(vm.id);
  const job = await t.client.parents.create({ source_vm_id: vm.id, name, warm_count: warmCount });
  return (await t.client.waitJob(job.id, { timeoutMs: 60_000 })).result as ParentWire;
}

test("a parent keeps warm_count children pre-started; a request takes them first and the host starts new ones", async () => {
  const parent = await makeParent("warm", 2);
  expect(parent.warm_count).toBe(2);
  await warmReady(parent.id, 2);
  const pre = await warmOnDisk(parent);
  expect(pre.size).toBe(2);
  for (const pid of pre.values()) expect(pidAlive(pid)).toBe(true);
  // Their state is loaded already: each read the parent's device state through and let go of
  // it (QEMU closes the migration stream's descriptor at the end of the load), and waits paused.
  for (const pid of pre.values()) expect(await openFiles(pid)).not.toContain(parent.device_state_path);
  // Not VMs anyone sees.
  expect((await t.client.vms.list()).map((v) => v.id)).not.toEqual(expect.arrayContaining([...pre.keys()]));
  expect((await t.client.parents.get(parent.id))!.children).toEqual([]);

  // Three asked, two pre-started: those two become children (same id, same QEMU), one starts cold.
  const job = await t.client.parents.clone(parent.id, { count: 3, name_prefix: "w" });
  const result = (await t.client.waitJob(job.id, { timeoutMs: 120_000 })).result as InstantCloneResultWire;
  expect(result.children.map((c) => c.name).sort()).toEqual(["w-1", "w-2", "w-3"]);
  const byId = new Map(result.children.map((c) => [c.id, c]));
  for (const [id, pid] of pre) {
    expect(byId.get(id)).toMatchObject({ power_state: "running", pid, instant_clone_of: parent.id });
  }
  for (const c of result.children) {
    expect(await qmpOnce<{ status: string }>(c.state_dir!, "query-status")).toMatchObject({ status: "running" });
    // The identity the guest reads is the child's own id, fixed when it was pre-started.
    const argv = JSON.parse(await fs.readFile(path.join(c.state_dir!, "vm.json"), "utf8")).argv as string[];
    expect(argv.join(" ")).toContain(`name=opt/org.clonefleet/identity,string=${c.id} `);
  }

  // The loop tops the parent up again with new processes.
  await warmReady(parent.id, 2);
  const next = await warmOnDisk(parent);
  expect([...next.keys()].some((id) => pre.has(id))).toBe(false);

  // One killed from outside is replaced.
  const [victimId, victimPid] = [...next][0];
  process.kill(victimPid, "SIGKILL");
  await waitFor("the killed child replaced", async () => {
    const now = await warmOnDisk(parent);
    return now.size === 2 && !now.has(victimId) ? now : null;
  }, 60_000);
  expect(existsSync(path.join(vmsRoot, victimId))).toBe(false);

  for (const c of result.children) await t.client.vms.delete(c.id);
});

test("warm_count changes in place; bad values are refused naming the field and change nothing", async () => {
  const parent = await makeParent("warm-set", 1);
  await warmReady(parent.id, 1);
  for (const bad of [65, -1, 1.5]) {
    const err = await apiError(t.client.parents.update(parent.id, { warm_count: bad }));
    expect(err).toMatchObject({ status: 400, field: "warm_count" });
  }
  const wrongType = await apiError(t.client.parents.update(parent.id, { warm_count: "2" as unknown as number }));
  expect(wrongType.status).toBe(400);
  const unknownField = await apiError(t.client.parents.update(parent.id, { ram_location: "tmpfs" } as never));
  expect(unknownField.status).toBe(400);
  expect((await apiError(t.client.parents.update("parent-nope", { warm_count: 1 }))).status).toBe(404);
  expect((await t.client.parents.get(parent.id))!.warm_count).toBe(1);
  // Refused before any job is recorded; a good change runs as a `parent.update` job.
  const updates = async () => (await t.client.jobs.list()).filter((j) => j.kind === "parent.update" && j.target_id === parent.id).map((j) => j.state);
  expect(await updates()).toEqual([]);
  const badCreate = await apiError(t.client.parents.create({ source_vm_id: "vm-nope", name: "x", warm_count: 100 }));
  expect(badCreate).toMatchObject({ status: 400, field: "warm_count" });

  expect((await t.client.parents.update(parent.id, { warm_count: 3 })).warm_count).toBe(3);
  expect(await updates()).toEqual(["succeeded"]);
  await warmReady(parent.id, 3);
  const three = await warmOnDisk(parent);
  expect((await t.client.parents.update(parent.id, { warm_count: 0 })).warm_count).toBe(0);
  await warmReady(parent.id, 0);
  for (const [id, pid] of three) {
    await waitFor(`pre-started ${id} gone`, async () => !pidAlive(pid) && !existsSync(path.join(vmsRoot, id)), 10_000);
  }
});

test("deleting a parent, then closing the engine, leaves no pre-started QEMU and no files", async () => {
  const parent = await makeParent("warm-del", 1);
  await warmReady(parent.id, 1);
  const [[id, pid]] = [...(await warmOnDisk(parent))];
  await t.client.parents.delete(parent.id);
  // The 204 came once its `parent.delete` job ended.
  expect((await t.client.jobs.list()).filter((j) => j.kind === "parent.delete" && j.target_id === parent.id).map((j) => j.state)).toEqual(["succeeded"]);
  await waitFor("the deleted parent's pre-started child gone", async () => !pidAlive(pid) && !existsSync(path.join(vmsRoot, id)), 15_000);

  const kept = await makeParent("warm-close", 2);
  await warmReady(kept.id, 2);
  const left = await warmOnDisk(kept);
  stopped = true;
  await t.engine.close();
  for (const [wid, wpid] of left) {
    expect(await pidGoneSoon(wpid)).toBe(true);
    expect(existsSync(path.join(vmsRoot, wid))).toBe(false);
  }
  await fs.rm(t.dir, { recursive: true, force: true });
});
