import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobWire } from "../../engine/client";
import { expectOneOwnerPerFile, importTemplate, makeDataImage } from "../support/clones";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { startPostgresCluster, type PostgresCluster } from "../../scripts/cluster/postgres";

// Two engine processes (hosts local and b, each with its own state folder) on one PostgreSQL
// inventory, racing fleet applies against one pool while it refills.
jest.setTimeout(600_000);

let cluster: PostgresCluster;
let dir: string;
let a: EngineProcess;
let b: EngineProcess;

beforeAll(async () => {
  cluster = await startPostgresCluster();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-pg-race-"));
  const url = await cluster.createDatabase("race");
  a = await spawnEngine(path.join(dir, "a"), ["--inventory", url, "--job-concurrency", "3"]);
  b = await spawnEngine(path.join(dir, "b"), ["--inventory", url, "--host-name", "b", "--job-concurrency", "3"]);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await cluster?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

test("50 fleet applies from two engines while the pool refills: no disk owned twice, no copy lost, every apply reported", async () => {
  const root = path.join(dir, "ds");
  await fs.mkdir(root);
  const ds = (await a.client.datastores.create({ name: "ds", path: root })).id;
  // Both engines read one inventory: b sees what a recorded.
  expect((await b.client.datastores.list()).map((d) => d.id)).toEqual([ds]);
  const tpl = await importTemplate(a.client, "base", ds, await makeDataImage(path.join(dir, "src.raw"), 8, 2));
  const pool = await a.client.pools.create({ template_id: tpl.id, datastore_id: ds, size: 6 });
  await a.client.waitPoolReady(pool.id, { timeoutMs: 120_000 });

  // Five fleets, ten applies each with changing sizes, sent alternately through both engines.
  const prefixes = ["red", "green", "blue", "gold", "gray"];
  const ids = new Map<string, string>();
  for (const prefix of prefixes) {
    const job = await a.client.fleets.create({ template_id: tpl.id, size: 1, datastore_ids: [ds], name_prefix: prefix });
    ids.set(prefix, job.target_id!);
  }
  const jobs: JobWire[] = [];
  const finalSize = new Map<string, number>();
  await Promise.all(
    Array.from({ length: 45 }, async (_, i) => {
      const prefix = prefixes[i % prefixes.length];
      const size = (i * 7) % 4;
      finalSize.set(prefix, size);
      const via = i % 2 === 0 ? a : b;
      jobs.push(await via.client.fleets.update(ids.get(prefix)!, { template_id: tpl.id, size, datastore_ids: [ds], name_prefix: prefix }));
    }),
  );
  const settled = async (id: string): Promise<JobWire> => {
    await a.client.waitJob(id, { timeoutMs: 300_000 }).catch(() => undefined);
    return (await a.client.jobs.get(id))!;
  };
  const ended = await Promise.all(jobs.map((j) => settled(j.id)));
  // Every apply ended and said how: succeeded, or failed with a typed error (never masked).
  for (const j of ended) {
    expect(["succeeded", "failed"]).toContain(j.state);
    if (j.state === "failed") expect(j.error?.code).not.toBe("CF_INTERNAL");
  }
  expect(ended.filter((j) => j.state === "succeeded").length).toBeGreaterThan(0);

  // One more apply per fleet settles each at a known size.
  for (const prefix of prefixes) {
    const job = await b.client.fleets.update(ids.get(prefix)!, { template_id: tpl.id, size: 2, datastore_ids: [ds], name_prefix: prefix });
    expect((await a.client.waitJob(job.id, { timeoutMs: 300_000 })).state).toBe("succeeded");
  }
  for (const prefix of prefixes) {
    const fleet = (await a.client.fleets.get(ids.get(prefix)!))!;
    expect(fleet.vms.map((v) => v.name).sort()).toEqual([`${prefix}-1`, `${prefix}-2`]);
    expect(fleet.state).toBe("ready");
  }
  // Every disk file has one owner, every owner its file; the pool refilled.
  await expectOneOwnerPerFile(a.client, [root]);
  const vms = await a.client.vms.list();
  expect(new Set(vms.map((v) => v.disk_path)).size).toBe(vms.length);
  expect((await a.client.waitPoolReady(pool.id, { timeoutMs: 120_000 })).ready).toBe(6);
});
