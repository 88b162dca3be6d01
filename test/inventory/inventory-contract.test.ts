import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { Fleet, Host, InstantCloneParent, Job, Pool, Replica, Snapshot, Vm } from "../../engine/model";
import type { Inventory } from "../../engine/store/inventory";
import { StoreConstraintError } from "../../engine/store";
import { openInventory } from "../../engine/store/sql/sql-inventory";
import { datastoreRecord, jobRecord, layerRecord, T0, templateRecord, vmRecord } from "../support/inventory-records";
import { startPostgresCluster, type PostgresCluster } from "../../scripts/cluster/postgres";

// One contract, two databases: whatever the engine may rely on from its inventory holds on the
// embedded SQLite file and on a PostgreSQL server alike.
let cluster: PostgresCluster;
let dir: string;
let seq = 0;

beforeAll(async () => {
  cluster = await startPostgresCluster();
  dir = mkdtempSync(path.join(tmpdir(), "cf-contract-"));
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ds = datastoreRecord;
const layer = layerRecord;
const template = templateRecord;
const pool = (over: Partial<Pool> = {}): Pool => ({ id: "pool-1", templateId: "tpl-1", datastoreId: "ds-1", size: 3, lastError: null, failures: 0, retryAt: null, createdAt: T0, ...over });
const fleet = (over: Partial<Fleet> = {}): Fleet => ({
  id: "fleet-1",
  namePrefix: "web",
  templateId: "tpl-1",
  size: 2,
  datastoreIds: ["ds-1"],
  cloneMode: "pool",
  powerState: "stopped",
  createdAt: T0,
  updatedAt: T0,
  hostIds: null,
  ...over,
});
// Fractional and JSON fields set, so a round trip shows they survive.
const vm = (over: Partial<Vm> = {}): Vm =>
  vmRecord({ stunMs: 47.25, machine: { memoryMb: 256, vcpus: 1, kernel: null, initrd: null, cmdline: null } as unknown as Vm["machine"], ...over });
const job = (over: Partial<Job> = {}): Job => jobRecord({ request: { vmId: "vm-1" }, ...over });

async function base(inv: Inventory): Promise<void> {
  await inv.tx(async (t) => {
    await t.datastores.insert(ds());
    await t.layers.insert(layer());
    await t.templates.insert(template());
  });
}

async function constraint(p: Promise<unknown>): Promise<StoreConstraintError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreConstraintError);
  return err as StoreConstraintError;
}

const stores: [string, () => Promise<Inventory>][] = [
  ["sqlite", () => openInventory(path.join(dir, `inv-${++seq}.sqlite`))],
  ["postgres", async () => openInventory(await cluster.createDatabase(`contract_${++seq}`))],
];

describe.each(stores)("inventory on %s", (_name, open) => {
  let inv: Inventory;
  beforeEach(async () => {
    inv = await open();
    await base(inv);
  });
  afterEach(async () => inv.close());

  test("datastores, layers and templates read back as written; lookups of unknown ids are null", async () => {
    expect(await inv.datastores.get("ds-1")).toEqual(ds());
    expect(await inv.datastores.findByName("one")).toEqual(ds());
    expect(await inv.layers.get("layer-t")).toEqual(layer());
    expect(await inv.layers.findByPath("/srv/ds1/t.qcow2")).toEqual(layer());
    expect(await inv.templates.findByName("base")).toEqual(template());
    expect(await inv.templates.list({ datastoreId: "ds-1" })).toEqual([template()]);
    expect(await inv.templates.get("nope")).toBeNull();
    expect(await inv.vms.get("nope")).toBeNull();
  });

  test("unique names and foreign keys are refused with the column named, and nothing is written", async () => {
    expect((await constraint(inv.datastores.insert(ds({ id: "ds-2", path: "/srv/other" })))).column).toBe("name");
    expect((await constraint(inv.templates.insert(template({ id: "tpl-2", name: "other", datastoreId: "nope" })))).column).toBe("datastore_id");
    expect((await constraint(inv.datastores.delete("ds-1"))).column).toBe("datastore_id");
    expect((await inv.datastores.list()).map((d) => d.id)).toEqual(["ds-1"]);
    expect(await inv.templates.get("tpl-2")).toBeNull();
  });

  test("layers filter, update and change owner; updates of unknown ids do nothing", async () => {
    await inv.layers.insert(layer({ id: "layer-p", path: "/srv/ds1/p.qcow2", ownerKind: "pool", ownerId: "pool-1", createdAt: "2026-01-01T00:00:01.000Z" }));
    expect((await inv.layers.list({ ownerKind: "pool" })).map((l) => l.id)).toEqual(["layer-p"]);
    expect((await inv.layers.findByContentId("ab".repeat(16))).map((l) => l.id)).toEqual(["layer-t", "layer-p"]);
    await inv.layers.update("layer-p", { state: "drifted", virtualSizeBytes: 2 ** 40, id: "hijack" } as never);
    await inv.layers.transfer("layer-p", { path: "/srv/ds1/vms/vm-1/disk.qcow2", ownerKind: "vm", ownerId: "vm-1" });
    expect(await inv.layers.get("layer-p")).toMatchObject({ state: "drifted", virtualSizeBytes: 2 ** 40, ownerKind: "vm", ownerId: "vm-1", path: "/srv/ds1/vms/vm-1/disk.qcow2" });
    await inv.layers.update("nope", { state: "drifted" });
    expect(await inv.layers.get("nope")).toBeNull();
  });

  test("layers are read by the batch: every id found once, unknown ids left out, past one statement's parameter limit too", async () => {
    const ids = Array.from({ length: 1203 }, (_, i) => `layer-b${i}`);
    await inv.tx(async (t) => {
      for (const [i, id] of ids.entries()) await t.layers.insert(layer({ id, path: `/srv/ds1/b${i}.qcow2` }));
    });
    const got = await inv.layers.getMany([...ids, "nope", "layer-t"]);
    expect(got.map((l) => l.id).sort()).toEqual([...ids, "layer-t"].sort());
    expect(await inv.layers.getMany([])).toEqual([]);
  });

  test("VM names by prefix are matched literally: '_' and '%' in a prefix are no wildcards", async () => {
    for (const [i, name] of ["web_1-1", "web_1-2", "webx1-1", "web%-1", "web_1"].entries()) {
      await inv.layers.insert(layer({ id: `layer-n${i}`, path: `/srv/ds1/n${i}.qcow2`, ownerKind: "vm", ownerId: `vm-n${i}` }));
      await inv.vms.insert(vm({ id: `vm-n${i}`, name, diskLayerId: `layer-n${i}`, homeDir: `/srv/ds1/vms/vm-n${i}` }));
    }
    expect((await inv.vms.namesStartingWith("web_1-")).sort()).toEqual(["web_1-1", "web_1-2"]);
    expect(await inv.vms.namesStartingWith("web%-")).toEqual(["web%-1"]);
    expect(await inv.vms.namesStartingWith("db-")).toEqual([]);
  });

  test("VMs keep every field, including JSON and fractional ones, and filter by fleet and host", async () => {
    await inv.fleets.insert(fleet());
    await inv.layers.insert(layer({ id: "layer-v", path: "/srv/ds1/v.qcow2", ownerKind: "vm", ownerId: "vm-1" }));
    await inv.vms.insert(vm({ fleetId: "fleet-1" }));
    expect(await inv.vms.get("vm-1")).toEqual(vm({ fleetId: "fleet-1" }));
    expect((await inv.vms.list({ fleetId: "fleet-1", hostId: "local" })).map((v) => v.name)).toEqual(["web-1"]);
    expect(await inv.vms.list({ hostId: "b" })).toEqual([]);
    await inv.vms.update("vm-1", { powerState: "running", pid: 4242, crashed: true, hostId: "b" });
    expect(await inv.vms.findByName("web-1")).toMatchObject({ powerState: "running", pid: 4242, crashed: true, hostId: "b" });
    expect((await inv.fleets.findByNamePrefix("web"))?.datastoreIds).toEqual(["ds-1"]);
    await inv.fleets.update("fleet-1", { hostIds: ["local", "b"] });
    expect((await inv.fleets.get("fleet-1"))?.hostIds).toEqual(["local", "b"]);
    await inv.fleets.update("fleet-1", { hostIds: null });
    expect((await inv.fleets.get("fleet-1"))?.hostIds).toBeNull();
    expect((await constraint(inv.fleets.delete("fleet-1"))).column).toBe("fleet_id");
  });

  test("replicas keep their layer list in order, replace it on update and drop it on delete", async () => {
    const replica: Replica = {
      id: "rep-1",
      sourceKind: "template",
      sourcePath: "/srv/ds1/t.qcow2",
      sourceTemplateId: "tpl-1",
      targetDatastoreId: "ds-1",
      topLayerId: "layer-t",
      diskPath: "/srv/ds1/t.qcow2",
      layersCopied: 1,
      layersReused: 1,
      bytesCopied: 3 * 2 ** 32,
      layers: [
        { position: 1, path: "/srv/ds1/b.qcow2", contentId: "cd".repeat(16), parentContentId: null, virtualSizeBytes: 1, format: "qcow2", origin: "reused", layerId: null, sourcePath: "/x/b" },
        { position: 0, path: "/srv/ds1/t.qcow2", contentId: "ab".repeat(16), parentContentId: "cd".repeat(16), virtualSizeBytes: 1, format: "qcow2", origin: "copied", layerId: "layer-t", sourcePath: "/x/t" },
      ],
      lastRun: { at: T0 } as unknown as Replica["lastRun"],
      state: "ready",
      createdAt: T0,
      updatedAt: T0,
    };
    await inv.replicas.insert(replica);
    const read = await inv.replicas.get("rep-1");
    expect(read?.layers.map((l) => l.position)).toEqual([0, 1]);
    expect(read?.bytesCopied).toBe(3 * 2 ** 32);
    expect((await inv.replicas.findUsingPath("/srv/ds1/b.qcow2")).map((r) => r.id)).toEqual(["rep-1"]);
    await inv.replicas.update("rep-1", { layers: [replica.layers[1]], state: "drifted" });
    expect((await inv.replicas.get("rep-1"))?.layers.map((l) => l.path)).toEqual(["/srv/ds1/t.qcow2"]);
    expect(await inv.replicas.findUsingPath("/srv/ds1/b.qcow2")).toEqual([]);
    await inv.replicas.delete("rep-1");
    expect(await inv.replicas.list()).toEqual([]);
  });

  test("parents, snapshots, hosts and settings round-trip", async () => {
    await inv.layers.insert(layer({ id: "layer-v", path: "/srv/ds1/v.qcow2", ownerKind: "vm", ownerId: "vm-1" }));
    await inv.vms.insert(vm());
    const snap: Snapshot = { id: "snap-1", vmId: "vm-1", name: "nightly", layerId: "layer-s", state: "ready", createdAt: T0 };
    await inv.snapshots.insert(snap);
    expect((await constraint(inv.snapshots.insert({ ...snap, id: "snap-2", layerId: "layer-s2" }))).column).toBe("vm_id, name");
    expect(await inv.snapshots.list({ vmId: "vm-1" })).toEqual([snap]);
    const parent: InstantCloneParent = {
      id: "par-1",
      name: "app-base",
      sourceVmId: "vm-1",
      datastoreId: "ds-1",
      diskLayerId: "layer-par",
      ramPath: "/dev/shm/x/ram",
      ramLocation: "tmpfs",
      deviceStatePath: "/srv/ds1/par/state",
      memoryBytes: 2 ** 33,
      machine: { memoryMb: 8192 } as unknown as InstantCloneParent["machine"],
      machineType: "pc-q35-7.2",
      accel: "tcg",
      qemuVersion: "7.2.0",
      state: "ready",
      warmCount: 2,
      createdAt: T0,
    };
    await inv.parents.insert(parent);
    await inv.parents.update("par-1", { warmCount: 5 });
    expect(await inv.parents.findByName("app-base")).toEqual({ ...parent, warmCount: 5 });
    const host: Host = { id: "b", name: "b", apiUrl: "http://198.18.0.2:7420", pid: 1, stateDir: "/s", vmStateRoot: "/s/vms", lastHeartbeatAt: T0, status: "up", downReason: null, startedAt: T0, createdAt: T0, tokenHash: "ab".repeat(32) };
    await inv.hosts.upsert(host);
    await inv.hosts.upsert({ ...host, pid: 2, createdAt: "2030-01-01T00:00:00.000Z" });
    expect(await inv.hosts.get("b")).toEqual({ ...host, pid: 2 });
    await inv.settings.set("host-name", "a");
    await inv.settings.set("host-name", "b");
    expect(await inv.settings.get("host-name")).toBe("b");
    expect(await inv.settings.get("nope")).toBeNull();
  });

  test("a transaction that throws undoes every aggregate it touched", async () => {
    const err = await inv
      .tx(async (t) => {
        await t.pools.insert(pool());
        await t.settings.set("k", "v");
        await t.templates.setState("tpl-1", "drifted");
        throw new Error("boom");
      })
      .catch((e: Error) => e.message);
    expect(err).toBe("boom");
    expect(await inv.pools.list()).toEqual([]);
    expect(await inv.settings.get("k")).toBeNull();
    expect((await inv.templates.get("tpl-1"))?.state).toBe("ready");
  });

  test("pool copies are handed out oldest first, each to exactly one of many concurrent takers", async () => {
    await inv.pools.insert(pool());
    for (let i = 0; i < 10; i++) {
      const at = `2026-01-01T00:00:${String(10 + i).padStart(2, "0")}.000Z`;
      await inv.layers.insert(layer({ id: `copy-${i}`, path: `/srv/ds1/pool/${i}.qcow2`, ownerKind: "pool", ownerId: "pool-1", createdAt: at }));
      await inv.pools.insertCopy({ layerId: `copy-${i}`, poolId: "pool-1", templateContentId: "ab".repeat(16), createdAt: at });
    }
    expect((await inv.pools.takeOldestCopy("pool-1"))?.layerId).toBe("copy-0");
    const taken = await Promise.all(Array.from({ length: 20 }, () => inv.tx((t) => t.pools.takeOldestCopy("pool-1"))));
    const ids = taken.filter((c) => c !== null).map((c) => c!.layerId);
    expect(ids.length).toBe(9);
    expect(new Set(ids).size).toBe(9);
    expect(await inv.pools.listCopies("pool-1")).toEqual([]);
    expect(await inv.pools.takeOldestCopy("pool-1")).toBeNull();
  });

  test("an idempotency key names one job only", async () => {
    await inv.jobs.insert(job({ idempotencyKey: "apply-7" }));
    expect((await constraint(inv.jobs.insert(job({ id: "job-2", idempotencyKey: "apply-7" })))).column).toBe("idempotency_key");
    expect((await inv.jobs.findByIdempotencyKey("apply-7"))?.id).toBe("job-1");
  });

  test("jobs are claimed under a lease by one runner at a time, renewed by their owner only, and recovered once the lease lapses", async () => {
    for (let i = 0; i < 6; i++) await inv.jobs.insert(job({ id: `job-${i}`, createdAt: `2026-01-01T00:00:0${i}.000Z`, hostId: i === 5 ? "b" : "local" }));
    const now = new Date("2026-06-01T00:00:00.000Z");
    // Eight runners race for five jobs of host local: each job goes to exactly one of them.
    const claims = await Promise.all(Array.from({ length: 8 }, (_, r) => inv.jobs.claim("local", `runner-${r}`, 30_000, now)));
    const won = claims.filter((c) => c !== null);
    expect(won.map((c) => c!.job.id).sort()).toEqual(["job-0", "job-1", "job-2", "job-3", "job-4"]);
    expect(won.every((c) => !c!.recovered)).toBe(true);
    const first = won.find((c) => c!.job.id === "job-0")!;
    await inv.jobs.update("job-0", { state: "running", startedAt: now.toISOString() });

    // The owner renews; a stranger cannot.
    expect(await inv.jobs.renew("job-0", first.lease.owner, 30_000, now)).toBe(true);
    expect(await inv.jobs.renew("job-0", "stranger", 30_000, now)).toBe(false);
    // Before the lease lapses nobody else gets the job.
    expect(await inv.jobs.claim("local", "late", 30_000, new Date(now.getTime() + 10_000))).toBeNull();
    // Its engine died: after the lease lapses the next runner of host local recovers it.
    const later = new Date(now.getTime() + 60_000);
    const again = await inv.jobs.claim("local", "next-engine", 30_000, later);
    expect(again?.job.id).toBe("job-0");
    expect(again?.recovered).toBe(true);
    // The dead owner's late renewal fails: the job is no longer its.
    expect(await inv.jobs.renew("job-0", first.lease.owner, 30_000, later)).toBe(false);
    await inv.jobs.release("job-0", "next-engine");
    expect(await inv.jobs.lease("job-0")).toBeNull();
    // Host b's job is only ever claimed by host b.
    expect((await inv.jobs.claim("b", "b-runner", 30_000, later))?.job.id).toBe("job-5");
  });

  test("a queued job is started by exactly one of many runners, under that runner's lease", async () => {
    await inv.jobs.insert(job({ id: "job-s" }));
    const now = new Date("2026-06-01T00:00:00.000Z");
    const started = await Promise.all(Array.from({ length: 6 }, (_, r) => inv.jobs.start("job-s", `runner-${r}`, 30_000, now)));
    expect(started.filter(Boolean)).toHaveLength(1);
    const owner = `runner-${started.indexOf(true)}`;
    expect(await inv.jobs.get("job-s")).toMatchObject({ state: "running", startedAt: now.toISOString() });
    expect(await inv.jobs.lease("job-s")).toEqual({ owner, expiresAt: "2026-06-01T00:00:30.000Z" });
    // Running already: nobody starts it again.
    expect(await inv.jobs.start("job-s", "late", 30_000, now)).toBe(false);
    expect(await inv.jobs.start("job-none", "late", 30_000, now)).toBe(false);
  });

  test("finishing a job writes its outcome and releases the lease only when the finisher still holds it", async () => {
    const now = new Date("2026-06-01T00:00:00.000Z");
    for (const id of ["job-f1", "job-f2"]) {
      await inv.jobs.insert(job({ id }));
      expect(await inv.jobs.start(id, "runner-a", 30_000, now)).toBe(true);
    }
    const outcome = { state: "succeeded" as const, result: { ok: 1 }, finishedAt: "2026-06-01T00:00:05.000Z" };
    await inv.jobs.finish("job-f1", outcome, "runner-a");
    expect(await inv.jobs.get("job-f1")).toMatchObject(outcome);
    expect(await inv.jobs.lease("job-f1")).toBeNull();
    // Another engine took job-f2 over: a late finish by the old owner leaves the new lease alone.
    await inv.jobs.finish("job-f2", { state: "failed", error: { code: "CF_X", message: "late" } }, "runner-b");
    expect((await inv.jobs.get("job-f2"))?.state).toBe("failed");
    expect(await inv.jobs.lease("job-f2")).toEqual({ owner: "runner-a", expiresAt: "2026-06-01T00:00:30.000Z" });
  });

  test("a lock held by one transaction makes another wait until the first ends", async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = inv.tx(async (t) => {
      await t.lock("fleet:web");
      order.push("first holds");
      await gate;
      await t.settings.set("holder", "first");
      order.push("first ends");
    });
    await new Promise((r) => setTimeout(r, 100));
    const second = inv.tx(async (t) => {
      await t.lock("fleet:web");
      order.push("second holds");
      await t.settings.set("holder", "second");
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(order).toEqual(["first holds"]);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(["first holds", "first ends", "second holds"]);
    expect(await inv.settings.get("holder")).toBe("second");
    await expect(inv.lock("x")).rejects.toThrow(/inside tx/);
  });

  test("a hold outlives transactions: a second holder waits until the first releases, while other work goes on", async () => {
    const order: string[] = [];
    const releaseFirst = await inv.hold("fleet:web");
    order.push("first holds");
    const second = inv.hold("fleet:web").then((release) => {
      order.push("second holds");
      return release;
    });
    // Transactions and other holds do not wait for it.
    await inv.tx(async (t) => t.settings.set("k", "v"));
    const other = await inv.hold("fleet:db");
    await other();
    await new Promise((r) => setTimeout(r, 150));
    expect(order).toEqual(["first holds"]);
    await releaseFirst();
    await releaseFirst(); // twice is harmless
    const releaseSecond = await second;
    expect(order).toEqual(["first holds", "second holds"]);
    await releaseSecond();
    await expect(inv.tx(async (t) => t.hold("x"))).rejects.toThrow(/outside tx/);
  });

  test("the top-level inventory used from inside a transaction is refused, not left to wait for ever", async () => {
    await expect(inv.tx(async () => inv.vms.get("vm-1"))).rejects.toThrow(/inventory misuse: a statement .* from inside tx\(\)/);
    await expect(inv.tx(async () => inv.jobs.claim("local", "r", 1000))).rejects.toThrow(/inventory misuse: a write of several statements/);
    // A timer started inside runs after the transaction ended: it may use the inventory.
    let later: Promise<unknown> = Promise.resolve();
    await inv.tx(async (t) => {
      await t.settings.set("k", "v");
      later = new Promise((r) => setTimeout(() => r(inv.settings.get("k")), 10));
    });
    expect(await later).toBe("v");
  });
});

describe("holds on PostgreSQL across engines", () => {
  test("another engine's hold makes this one wait, and a dead engine's hold ends with its connection", async () => {
    const url = await cluster.createDatabase(`contract_${++seq}`);
    const a = await openInventory(url);
    const b = await openInventory(url);
    try {
      await a.hold("fleet:web");
      let bHolds = false;
      const waiting = b.hold("fleet:web").then((release) => {
        bHolds = true;
        return release;
      });
      await new Promise((r) => setTimeout(r, 200));
      expect(bHolds).toBe(false);
      // Engine a goes away without releasing: its connections close, and with them its hold.
      await a.close();
      const release = await waiting;
      expect(bHolds).toBe(true);
      await release();
    } finally {
      await b.close();
    }
  });
});
