import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ClonefleetClient, JobWire } from "../../engine/client";
import { filesUnder } from "../support/files";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAtHold } from "../support/fault-hold";
import { killAllVms, vmFixture } from "../support/vms";

// Runs the built CLI (dist/): `npx tsc -p tsconfig.json` first. Real qemu-img and SQLite.
jest.setTimeout(180_000);

const ARGS = ["--accel", "tcg"];

/**
 * Files and records agree: every file under a datastore's engine folder (besides its catalog)
 * is a template's disk, a pool copy or a replica layer, and every such record's file exists.
 */
async function expectFilesMatchRecords(client: ClonefleetClient): Promise<void> {
  const [datastores, templates, pools, replicas] = await Promise.all([client.datastores.list(), client.templates.list(), client.pools.list(), client.replicas.list()]);
  const recorded = new Set([...templates.map((t) => t.disk_path), ...pools.flatMap((p) => p.copies.map((c) => c.path)), ...replicas.flatMap((r) => r.chain.map((l) => l.path))]);
  const onDisk = (await Promise.all(datastores.map((d) => filesUnder(path.join(d.path, "clonefleet"))))).flat().filter((f) => path.basename(f) !== "catalog.json");
  expect(onDisk.sort()).toEqual([...recorded].sort());
}

/** The orphans the last start's reconciliation swept: none when the job's own recovery cleaned up. */
async function sweptOrphans(client: ClonefleetClient): Promise<string[]> {
  return ((await client.engine()).last_recovery as { removedOrphans: string[] }).removedOrphans;
}

function expectInterrupted(job: JobWire): void {
  expect(job.state).toBe("failed");
  expect(job.error?.code).toBe("CF_INTERRUPTED");
}

describe("engine SIGKILL during datastore.create, datastore.delete, pool.delete and replica.delete jobs", () => {
  let dir: string;
  let stateDir: string;
  let engine: EngineProcess;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-sj-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ARGS);
  });
  afterEach(async () => {
    await engine.kill();
    await killAllVms(path.join(stateDir, "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("datastore.delete killed after its record went: recovery removes its engine folder and keeps the user's directory", async () => {
    const dsPath = path.join(dir, "empty-ds");
    await fs.mkdir(dsPath);
    await fs.writeFile(path.join(dsPath, "users-file.txt"), "mine");
    const ds = await engine.client.datastores.create({ name: "empty", path: dsPath });
    expect(await fs.readdir(dsPath)).toEqual(expect.arrayContaining(["clonefleet"]));

    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "datastore-delete:after-commit", kind: "datastore.delete" }, (c) => c.datastores.delete(ds.id));
    engine = r.engine;
    expect(r.job).toMatchObject({ state: "succeeded", target_id: ds.id });
    expect(await engine.client.datastores.get(ds.id)).toBeNull();
    expect(await fs.readdir(dsPath)).toEqual(["users-file.txt"]);
  });

  it("datastore.delete killed before its record went: the datastore stays whole and usable", async () => {
    const dsPath = path.join(dir, "kept-ds");
    const ds = await engine.client.datastores.create({ name: "kept", path: dsPath });

    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "datastore-delete:after-intent", kind: "datastore.delete" }, (c) => c.datastores.delete(ds.id));
    engine = r.engine;
    expectInterrupted(r.job);
    expect((await engine.client.datastores.get(ds.id))?.reachable).toBe(true);
    expect(await fs.readdir(path.join(dsPath, "clonefleet"))).toEqual(expect.arrayContaining(["catalog.json"]));
    // Nothing is left half-done: it goes on the next try.
    await engine.client.datastores.delete(ds.id);
    expect(await engine.client.datastores.get(ds.id)).toBeNull();
  });

  it("datastore.create killed after it made its folders but before its record: recovery removes the folders it made", async () => {
    const dsPath = path.join(dir, "new-ds");
    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "datastore-create:after-layout", kind: "datastore.create" }, (c) => c.datastores.create({ name: "new", path: dsPath }));
    engine = r.engine;
    expectInterrupted(r.job);
    expect(await engine.client.datastores.list()).toEqual([]);
    await expect(fs.access(dsPath)).rejects.toThrow();
    // The name and path are free again.
    expect((await engine.client.datastores.create({ name: "new", path: dsPath })).path).toBe(dsPath);
  });

  it("pool.delete killed after its records went: recovery removes the ready copies' files", async () => {
    const fx = await vmFixture(engine.client, dir);
    const pool = await engine.client.pools.create({ template_id: fx.templateId, datastore_id: fx.datastoreId, size: 2 });
    const ready = await engine.client.waitPoolReady(pool.id, { timeoutMs: 120_000 });
    const copies = ready.copies.map((c) => c.path);
    expect(copies).toHaveLength(2);

    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "pool-delete:after-commit", kind: "pool.delete" }, (c) => c.pools.delete(pool.id));
    engine = r.engine;
    expect(r.job).toMatchObject({ state: "succeeded", target_id: pool.id });
    expect(await engine.client.pools.get(pool.id)).toBeNull();
    for (const c of copies) await expect(fs.access(c)).rejects.toThrow();
    expect(await sweptOrphans(engine.client)).toEqual([]);
    await expectFilesMatchRecords(engine.client);
  });

  it("pool.delete killed before its records went: the pool keeps its copies", async () => {
    const fx = await vmFixture(engine.client, dir);
    const pool = await engine.client.pools.create({ template_id: fx.templateId, datastore_id: fx.datastoreId, size: 1 });
    await engine.client.waitPoolReady(pool.id, { timeoutMs: 120_000 });

    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "pool-delete:after-intent", kind: "pool.delete" }, (c) => c.pools.delete(pool.id));
    engine = r.engine;
    expectInterrupted(r.job);
    expect((await engine.client.pools.get(pool.id))?.ready).toBe(1);
    await expectFilesMatchRecords(engine.client);
  });

  it("replica.delete killed after its records went: recovery removes the layers it copied, and the template it reused stays", async () => {
    const fx = await vmFixture(engine.client, dir);
    const target = await engine.client.datastores.create({ name: "target", path: path.join(dir, "target") });
    const created = await engine.client.waitJob((await engine.client.replicas.create({ template_id: fx.templateId, target_datastore_id: target.id })).id, { timeoutMs: 120_000 });
    const replica = (await engine.client.replicas.get(created.target_id!))!;
    const copied = replica.chain.map((l) => l.path).filter((p) => p.startsWith(path.join(dir, "target")));
    expect(copied.length).toBeGreaterThan(0);

    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "replica-delete:after-commit", kind: "replica.delete" }, (c) => c.replicas.delete(replica.id));
    engine = r.engine;
    expect(r.job).toMatchObject({ state: "succeeded", target_id: replica.id });
    expect(await engine.client.replicas.get(replica.id)).toBeNull();
    for (const c of copied) await expect(fs.access(c)).rejects.toThrow();
    expect(await filesUnder(path.join(dir, "target", "clonefleet", "replicas"))).toEqual([]);
    expect(await sweptOrphans(engine.client)).toEqual([]);
    expect((await engine.client.templates.get(fx.templateId))?.state).toBe("ready");
    await expectFilesMatchRecords(engine.client);
  });

  it("replica.delete killed before its records went: the replica stays whole", async () => {
    const fx = await vmFixture(engine.client, dir);
    const target = await engine.client.datastores.create({ name: "target", path: path.join(dir, "target") });
    const created = await engine.client.waitJob((await engine.client.replicas.create({ template_id: fx.templateId, target_datastore_id: target.id })).id, { timeoutMs: 120_000 });

    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "replica-delete:after-intent", kind: "replica.delete" }, (c) => c.replicas.delete(created.target_id!));
    engine = r.engine;
    expectInterrupted(r.job);
    expect((await engine.client.replicas.get(created.target_id!))?.state).toBe("ready");
    await expectFilesMatchRecords(engine.client);
  });
});
