/**
 * Every VM origin × every operation that takes a VM, running and stopped where both apply.
 * Each combination either works (and the data written before it reads back where it should)
 * or is refused on purpose: a 4xx, or a job failed with a CF_ code other than CF_INTERNAL,
 * whose message says why. None may answer a 500 or fail a job with CF_INTERNAL. At the end
 * every object is deleted and nothing of the engine's is left: no file under the datastores'
 * engine folders, no VM state folder, no QEMU or qemu-img process.
 *
 * Two engine processes on one state folder (hosts `local` and `b`), firmware-only VMs.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ApiError, type ParentWire, type ReplicaWire, type SnapshotWire, type VmWire, type InstantCloneResultWire } from "../../engine/client";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { filesUnder } from "../support/files";
import { chainHas, checkClean, createVm, forkVm, killAllVms, writeInVm } from "../support/vms";
import { run } from "../snapshots/helpers";

jest.setTimeout(900_000);

const HEARTBEAT = ["--heartbeat-interval-ms", "250"];

let dir: string;
let stateDir: string;
let a: EngineProcess;
let b: EngineProcess;
let ds1: { id: string; path: string };
let ds2: { id: string; path: string };
let templateId: string;
let poolId: string;

/** What one operation on one VM came to. */
type Outcome = { ok: true; note?: string } | { ok: false; status: number; code: string; message: string };

const table = new Map<string, Map<string, Outcome>>();

function record(origin: string, op: string, outcome: Outcome): Outcome {
  if (!table.has(origin)) table.set(origin, new Map());
  table.get(origin)!.set(op, outcome);
  return outcome;
}

/** Runs an operation; a refusal (ApiError or failed job) is an outcome, anything else is thrown. */
async function attempt(origin: string, op: string, fn: () => Promise<string | void>): Promise<Outcome> {
  try {
    const note = await fn();
    return record(origin, op, { ok: true, ...(note ? { note } : {}) });
  } catch (err) {
    if (err instanceof ApiError) return record(origin, op, { ok: false, status: err.status, code: err.code, message: err.message });
    throw err;
  }
}

async function job<T>(submitted: Promise<{ id: string }>, timeoutMs = 120_000): Promise<T> {
  return (await a.client.waitJob((await submitted).id, { timeoutMs })).result as T;
}

async function vm(id: string): Promise<VmWire> {
  return (await a.client.vms.get(id))!;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-matrix-"));
  stateDir = path.join(dir, "state");
  a = await spawnEngine(stateDir, HEARTBEAT);
  b = await spawnEngine(stateDir, [...HEARTBEAT, "--host-name", "b"]);
  for (const name of ["ds1", "ds2"]) await fs.mkdir(path.join(dir, name));
  const d1 = await a.client.datastores.create({ name: "ds1", path: path.join(dir, "ds1") });
  const d2 = await a.client.datastores.create({ name: "ds2", path: path.join(dir, "ds2") });
  ds1 = { id: d1.id, path: d1.path };
  ds2 = { id: d2.id, path: d2.path };
  const img = path.join(dir, "blank.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "32M"]);
  templateId = (await job<{ id: string }>(a.client.templates.import({ name: "tpl", datastore_id: ds1.id, source_path: img, memory_mb: 64, vcpus: 1 }))).id;
  poolId = (await a.client.pools.create({ template_id: templateId, datastore_id: ds1.id, size: 1 })).id;
  await a.client.waitPoolReady(poolId, { timeoutMs: 60_000 });
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await killAllVms(path.join(stateDir, "vms"));
  await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
  await fs.rm(dir, { recursive: true, force: true });
});

/** Makes a running VM of each origin on host `local`; answers its id and the ids of helpers to delete later. */
const origins: Record<string, () => Promise<{ id: string; extra: { vms: string[]; parents: string[] } }>> = {
  pool: async () => ({ id: (await a.client.vms.start((await createVm(a.client, "m-pool", templateId, "pool")).id)).id, extra: { vms: [], parents: [] } }),
  full: async () => ({ id: (await a.client.vms.start((await createVm(a.client, "m-full", templateId, "full")).id)).id, extra: { vms: [], parents: [] } }),
  linked: async () => ({ id: (await a.client.vms.start((await createVm(a.client, "m-linked", templateId, "linked")).id)).id, extra: { vms: [], parents: [] } }),
  "fork of a delta parent": async () => {
    const parent = await a.client.vms.start((await createVm(a.client, "m-dp", templateId, "linked")).id);
    const child = await forkVm(a.client, parent.id, "m-dp-child");
    return { id: child.id, extra: { vms: [parent.id], parents: [] } };
  },
  "fork of a base parent": async () => {
    const parent = await a.client.vms.start((await createVm(a.client, "m-bp", templateId, "full")).id);
    const child = await forkVm(a.client, parent.id, "m-bp-child");
    return { id: child.id, extra: { vms: [parent.id], parents: [] } };
  },
  "instant clone": async () => {
    const src = await a.client.vms.start((await createVm(a.client, "m-ics", templateId, "full")).id);
    const parent = await job<ParentWire>(a.client.parents.create({ source_vm_id: src.id, name: "m-icp" }));
    const clones = await job<InstantCloneResultWire>(a.client.parents.clone(parent.id, { names: ["m-ic"] }));
    return { id: clones.children[0].id, extra: { vms: [src.id], parents: [parent.id] } };
  },
  "after live migration": async () => {
    const v = await a.client.vms.start((await createVm(a.client, "m-mig", templateId, "full")).id);
    await job(a.client.vms.migrate(v.id, { host_id: "b" }));
    await job(a.client.vms.migrate(v.id, { host_id: "local" }));
    return { id: v.id, extra: { vms: [], parents: [] } };
  },
  "after storage move": async () => {
    const v = await a.client.vms.start((await createVm(a.client, "m-move", templateId, "full")).id);
    await job(a.client.vms.migrate(v.id, { host_id: "b", target_datastore_id: ds2.id }));
    await job(a.client.vms.migrate(v.id, { host_id: "local" }));
    return { id: v.id, extra: { vms: [], parents: [] } };
  },
};

/** A pattern per origin, written into the guest-visible disk before the operations. */
let nextPattern = 0x40;

for (const [origin, make] of Object.entries(origins)) {
  test(`origin: ${origin}`, async () => {
    const { id, extra } = await make();
    const tag = origin.replace(/[^a-z]+/g, "-");
    const pattern = nextPattern++;
    expect((await vm(id)).power_state).toBe("running");
    await writeInVm((await vm(id)).state_dir!, "0", pattern);

    let snap: SnapshotWire | null = null;
    await attempt(origin, "snapshot (running)", async () => {
      snap = await job<SnapshotWire>(a.client.snapshots.create(id, { name: "s-run" }));
    });
    await attempt(origin, "backup (running)", async () => {
      const target = path.join(ds1.path, `${tag}-run.qcow2`);
      await job(a.client.vms.backup(id, { target_path: target }));
      expect(await checkClean(target)).toBe(true);
      expect(await chainHas(target, "0", pattern)).toBe(true);
      await fs.rm(target);
    });
    if (snap) await attempt(origin, "consolidate (running)", () => job(a.client.snapshots.delete(snap!.id)));
    await attempt(origin, "fork (running)", async () => {
      const child = await forkVm(a.client, id, `${tag.slice(0, 40)}-fork`);
      expect(await chainHas(child.disk_path!, "0", pattern)).toBe(true);
      await a.client.vms.delete(child.id);
    });
    await attempt(origin, "replicate chain (running)", async () => {
      const target = (await vm(id)).datastore_id === ds2.id ? ds1.id : ds2.id;
      const rep = await job<ReplicaWire>(a.client.replicas.create({ source_disk_path: (await vm(id)).disk_path!, target_datastore_id: target }));
      expect(await checkClean(rep.disk_path)).toBe(true);
      await a.client.replicas.delete(rep.id);
    });
    await attempt(origin, "migrate (running)", async () => {
      await job(a.client.vms.migrate(id, { host_id: "b" }));
      expect((await vm(id)).host_id).toBe("b");
      await job(a.client.vms.migrate(id, { host_id: "local" }));
    });
    expect((await vm(id)).power_state).toBe("running");

    await attempt(origin, "stop", async () => {
      await a.client.vms.stop(id);
    });
    let offline: SnapshotWire | null = null;
    await attempt(origin, "snapshot (stopped)", async () => {
      offline = await job<SnapshotWire>(a.client.snapshots.create(id, { name: "s-off" }));
    });
    await attempt(origin, "backup (stopped)", async () => {
      const target = path.join(ds1.path, `${tag}-off.qcow2`);
      await job(a.client.vms.backup(id, { target_path: target }));
      expect(await chainHas(target, "0", pattern)).toBe(true);
      await fs.rm(target);
    });
    if (offline) await attempt(origin, "consolidate (stopped)", () => job(a.client.snapshots.delete(offline!.id)));
    await attempt(origin, "fork (stopped)", async () => {
      const child = await forkVm(a.client, id, `${tag.slice(0, 40)}-sfork`);
      expect(await chainHas(child.disk_path!, "0", pattern)).toBe(true);
      await a.client.vms.delete(child.id);
    });
    await attempt(origin, "replicate chain (stopped)", async () => {
      const target = (await vm(id)).datastore_id === ds2.id ? ds1.id : ds2.id;
      const rep = await job<ReplicaWire>(a.client.replicas.create({ source_disk_path: (await vm(id)).disk_path!, target_datastore_id: target }));
      await a.client.replicas.delete(rep.id);
    });
    await attempt(origin, "migrate (stopped)", () => job(a.client.vms.migrate(id, { host_id: "b" })));
    await attempt(origin, "start", async () => {
      await a.client.vms.start(id);
    });
    expect(await chainHas((await vm(id)).disk_path!, "0", pattern)).toBe(true);
    await attempt(origin, "capture as parent (running)", async () => {
      const parent = await job<ParentWire>(a.client.parents.create({ source_vm_id: id, name: `${tag.slice(0, 40)}-p` }));
      const kids = await job<InstantCloneResultWire>(a.client.parents.clone(parent.id, { names: [`${tag.slice(0, 40)}-pc`] }));
      expect(await chainHas((await vm(kids.children[0].id)).disk_path!, "0", pattern)).toBe(true);
      await a.client.vms.delete(kids.children[0].id);
      await a.client.parents.delete(parent.id);
    });

    // Teardown of this origin: the VM, then what made it.
    await a.client.vms.delete(id);
    for (const v of extra.vms) {
      for (const p of extra.parents) await a.client.parents.delete(p);
      extra.parents = [];
      await a.client.vms.delete(v);
    }

    const outcomes = [...table.get(origin)!.entries()];
    const broken = outcomes.filter(([, o]) => !o.ok && (o.status >= 500 || o.code === "CF_INTERNAL"));
    expect(broken).toEqual([]);
    // A refusal says why: a 4xx (or a job failed with a CF_ code) with a message.
    for (const [, o] of outcomes) if (!o.ok) expect(o.message.length).toBeGreaterThan(10);
  });
}

test("the matrix, printed; then every object deleted leaves nothing of the engine behind", async () => {
  const ops = [...new Set([...table.values()].flatMap((m) => [...m.keys()]))];
  const lines = [`| origin | ${ops.join(" | ")} |`, `|---|${ops.map(() => "---").join("|")}|`];
  for (const [origin, m] of table) lines.push(`| ${origin} | ${ops.map((op) => { const o = m.get(op); return !o ? "–" : o.ok ? "ok" : `${o.status} ${o.code}`; }).join(" | ")} |`);
  const refusals = [...table].flatMap(([origin, m]) => [...m].filter(([, o]) => !o.ok).map(([op, o]) => `${origin} / ${op}: ${(o as { message: string }).message}`));
  process.stdout.write(`\n${lines.join("\n")}\n\nRefused on purpose:\n${refusals.join("\n") || "(none)"}\n`);

  await a.client.pools.delete(poolId);
  await a.client.templates.delete(templateId);
  expect(await a.client.vms.list()).toEqual([]);
  expect(await a.client.parents.list()).toEqual([]);
  expect(await a.client.replicas.list()).toEqual([]);
  for (const ds of [ds1, ds2]) {
    const left = (await filesUnder(path.join(ds.path, "clonefleet"))).filter((f) => path.basename(f) !== "catalog.json");
    expect(left).toEqual([]);
  }
  for (const root of [path.join(stateDir, "vms"), path.join(stateDir, "hosts", "b", "vms")]) expect(await fs.readdir(root).catch(() => [])).toEqual([]);
  // No QEMU or qemu-img of this state folder runs any more.
  const procs: string[] = [];
  for (const pid of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0").join(" ");
    if (/qemu/.test(cmd) && cmd.includes(dir)) procs.push(`${pid}: ${cmd.slice(0, 120)}`);
  }
  expect(procs).toEqual([]);
});
