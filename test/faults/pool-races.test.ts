import * as path from "node:path";
import type { FleetApplyWire, TemplateWire } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import { expectOneOwnerPerFile, importTemplate, inodeOf, makeDataImage, waitPoolsSettled } from "../support/clones";

/**
 * What the inventory says at one instant (read in one transaction, so no handout can commit
 * in between): pool copies' layers and VMs' disk layers must never overlap.
 */
async function inventoryInstant(t: TestEngine): Promise<{ poolLayers: Set<string>; vmLayers: string[]; poolPaths: Set<string>; vmPaths: string[] }> {
  return t.engine.store.tx(async (s) => {
    const poolLayers = new Set<string>();
    for (const p of await s.pools.list()) for (const c of await s.pools.listCopies(p.id)) poolLayers.add(c.layerId);
    const vms = await s.vms.list();
    const pathOf = async (id: string) => (await s.layers.get(id))!.path;
    return {
      poolLayers,
      vmLayers: vms.map((v) => v.diskLayerId),
      poolPaths: new Set(await Promise.all([...poolLayers].map(pathOf))),
      vmPaths: await Promise.all(vms.map((v) => pathOf(v.diskLayerId))),
    };
  });
}

async function expectDisjoint(t: TestEngine): Promise<void> {
  const now = await inventoryInstant(t);
  expect(now.vmLayers.filter((id) => now.poolLayers.has(id))).toEqual([]);
  expect(now.vmPaths.filter((p) => now.poolPaths.has(p))).toEqual([]);
  expect(new Set(now.vmLayers).size).toBe(now.vmLayers.length);
}

describe("pool races", () => {
  let t: TestEngine;
  let ds: string;
  let root: string;
  let tpl: TemplateWire;

  beforeAll(async () => {
    // A copy cap makes fills take a while, so fills and handouts overlap.
    t = await startTestEngine({ engine: { copyRateLimitBytesPerSec: 32 * 2 ** 20, jobConcurrency: 2, pools: { concurrency: 2 } } });
    root = path.join(t.dir, "ds");
    ds = (await t.client.datastores.create({ name: "ds", path: root })).id;
    tpl = await importTemplate(t.client, "base", ds, await makeDataImage(path.join(t.dir, "src.raw"), 16, 4));
  });
  afterAll(() => t.stop());

  it("two fleet requests racing for one pool never receive the same disk, and no disk is lost", async () => {
    const pool = await t.client.pools.create({ template_id: tpl.id, datastore_id: ds, size: 6 });
    const ready = await t.client.waitPoolReady(pool.id, { timeoutMs: 30_000 });
    const pooled = new Set(await Promise.all(ready.copies.map((c) => inodeOf(c.path))));
    expect(pooled.size).toBe(6);

    // Both jobs are queued before either runs, and run at once (job concurrency 2).
    const jobs = await Promise.all(
      ["red", "blue"].map((prefix) => t.client.fleets.create({ template_id: tpl.id, size: 5, datastore_ids: [ds], name_prefix: prefix })),
    );
    const results = await Promise.all(jobs.map(async (j) => (await t.client.waitJob(j.id, { timeoutMs: 60_000 })).result as FleetApplyWire));
    const added = results.flatMap((r) => r.added);
    expect(added).toHaveLength(10);

    const inodes = await Promise.all(added.map((a) => inodeOf(a.disk_path)));
    expect(new Set(inodes).size).toBe(10);
    const fromPool = added.filter((a, i) => a.provisioned_by === "pool" && pooled.has(inodes[i]));
    // Every ready copy went to exactly one clone; the rest were copied.
    expect(added.filter((a) => a.provisioned_by === "pool")).toHaveLength(6);
    expect(fromPool).toHaveLength(6);
    expect(new Set(inodes.filter((i) => pooled.has(i))).size).toBe(6);
    expect(added.filter((a) => a.provisioned_by === "copy")).toHaveLength(4);
    await expectDisjoint(t);
    await expectOneOwnerPerFile(t.client, [root]);

    for (const r of results) await t.client.fleets.delete(r.fleet.id);
    await t.client.pools.delete(pool.id);
  });

  it("a refill and a fleet request at the same time: no disk is both handed out and in the pool", async () => {
    const pool = await t.client.pools.create({ template_id: tpl.id, datastore_id: ds, size: 4 });
    await t.client.waitPoolReady(pool.id, { timeoutMs: 30_000 });
    // Grow the pool so refills are running while the fleet takes copies out of it.
    await t.client.pools.resize(pool.id, 8);
    const job = await t.client.fleets.create({ template_id: tpl.id, size: 7, datastore_ids: [ds], name_prefix: "green" });

    let samples = 0;
    let overlappedFill = false;
    for (;;) {
      await expectDisjoint(t);
      samples += 1;
      const j = await t.client.jobs.get(job.id);
      const p = (await t.client.pools.get(pool.id))!;
      if (p.filling > 0 && j.state === "running") overlappedFill = true;
      if (j.state !== "queued" && j.state !== "running") break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(samples).toBeGreaterThan(1);
    expect(overlappedFill).toBe(true);
    const result = (await t.client.waitJob(job.id)).result as FleetApplyWire;
    expect(result.added).toHaveLength(7);
    expect(result.added.filter((a) => a.provisioned_by === "pool").length).toBeGreaterThanOrEqual(4);

    // Keep checking while the pool refills to 8 behind the fleet.
    while ((await t.client.pools.get(pool.id))!.ready < 8) {
      await expectDisjoint(t);
      await new Promise((r) => setTimeout(r, 20));
    }
    await waitPoolsSettled(t.client);
    await expectDisjoint(t);
    const owners = await expectOneOwnerPerFile(t.client, [root]);
    expect([...owners.values()].filter((o) => o.startsWith("vm "))).toHaveLength(7);
    expect([...owners.values()].filter((o) => o.startsWith("pool "))).toHaveLength(8);
    const inodes = await Promise.all([...owners.keys()].map(inodeOf));
    expect(new Set(inodes).size).toBe(inodes.length);
  });
});
