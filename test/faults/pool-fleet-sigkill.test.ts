import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { FleetApplyWire, TemplateWire } from "../../engine/client";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { eventually, expectOneOwnerPerFile, filesUnder, importTemplate, isStandaloneSoundQcow2, makeDataImage } from "../support/clones";

const parts = async (root: string) => (await filesUnder(path.join(root, "clonefleet"))).filter((f) => f.endsWith(".part"));

describe("SIGKILL of the engine during pool refills and fleet applies", () => {
  let dir: string;
  let engine: EngineProcess | null = null;
  let stateDir: string;
  let root: string;
  let dsId: string;
  let tpl: TemplateWire;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-kill-pool-"));
    stateDir = path.join(dir, "state");
    root = path.join(dir, "ds");
    // A bandwidth cap makes each copy take seconds, so the kill lands while copies run.
    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "8M"]);
    dsId = (await engine.client.datastores.create({ name: "ds", path: root })).id;
    tpl = await importTemplate(engine.client, "base", dsId, await makeDataImage(path.join(dir, "src.raw"), 32, 16));
  });
  afterAll(async () => {
    await engine?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("mid-refill: after restart no partial copy remains, every file has one owner, and the pool fills", async () => {
    const pool = await engine!.client.pools.create({ template_id: tpl.id, datastore_id: dsId, size: 2 });
    await eventually(async () => {
      const p = (await engine!.client.pools.get(pool.id))!;
      return p.fills.some((f) => f.progress > 0) && (await parts(root)).length > 0;
    }, 20_000, "a fill to be copying");
    await engine!.kill();
    expect((await parts(root)).length).toBeGreaterThan(0);

    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "64M"]);
    const report = (await engine.client.engine()).last_recovery as { removedOrphans: string[] };
    expect(report.removedOrphans.some((f) => f.endsWith(".qcow2.part"))).toBe(true);
    const after = (await engine.client.pools.get(pool.id))!;
    for (const c of after.copies) expect(await isStandaloneSoundQcow2(c.path)).toBe(true);

    const full = await engine.client.waitPoolReady(pool.id, { timeoutMs: 30_000 });
    expect(full.ready).toBe(2);
    expect(await parts(root)).toEqual([]);
    await expectOneOwnerPerFile(engine.client, [root]);
  });

  it("mid-fleet: after restart the fleet is consistent, the job says how far it got, and the next apply finishes it", async () => {
    await engine!.stop();
    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "8M"]);
    const spec = { template_id: tpl.id, size: 5, datastore_ids: [dsId], name_prefix: "kill" };
    const job = await engine.client.fleets.create(spec);
    const fleetId = job.target_id!;
    // Two members come from the pool at once; wait until copies for the rest are under way.
    await eventually(async () => {
      const j = await engine!.client.jobs.get(job.id);
      const copying = (await parts(root)).some((f) => path.basename(f).startsWith("vm-"));
      return j.state === "running" && j.progress.done >= 2 && copying;
    }, 30_000, "the fleet to be copying disks");
    await engine.kill();

    engine = await spawnEngine(stateDir);
    const after = await engine.client.jobs.get(job.id);
    expect(after.state).toBe("failed");
    expect(after.error).toMatchObject({ code: "CF_INTERRUPTED", message: expect.stringMatching(/\d of 5 new members were made and kept/) });
    expect(after.target_id).toBe(fleetId);
    const fleet = (await engine.client.fleets.get(fleetId))!;
    expect(fleet.vms.length).toBeGreaterThanOrEqual(2);
    expect(fleet.vms.length).toBeLessThan(5);
    expect(fleet.state).toBe("drifted");
    for (const v of fleet.vms) {
      expect(v.state).toBe("ready");
      expect(await isStandaloneSoundQcow2(v.disk_path)).toBe(true);
    }
    expect((await parts(root)).filter((f) => path.basename(f).startsWith("vm-"))).toEqual([]);
    await expectOneOwnerPerFile(engine.client, [root]);

    const again = await engine.client.fleets.update(fleetId, spec);
    const result = (await engine.client.waitJob(again.id, { timeoutMs: 60_000 })).result as FleetApplyWire;
    expect(result.fleet).toMatchObject({ size: 5, members_ready: 5, state: "ready" });
    expect(result.added.length).toBe(5 - fleet.vms.length);
    await expectOneOwnerPerFile(engine.client, [root]);
  });
});
