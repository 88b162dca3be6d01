import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { livePid } from "../../engine/ops";
import { filesUnder } from "../support/files";
import { makeChain } from "../support/chains";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { heldJob, killAtHold } from "../support/fault-hold";
import { apiError } from "../support/api-error";
import { killAllVms, vmFixture } from "../support/vms";

// Runs the built CLI (dist/): `npx tsc -p tsconfig.json` first. Real QEMU (TCG), qemu-img and SQLite.
jest.setTimeout(180_000);

const ARGS = ["--accel", "tcg"];

describe("engine SIGKILL during template.delete, fleet.delete, disk.register and catalog.rescan jobs, and applies refused meanwhile", () => {
  let dir: string;
  let stateDir: string;
  let engine: EngineProcess;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-ij-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ARGS);
  });
  afterEach(async () => {
    await engine.kill();
    await killAllVms(path.join(stateDir, "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Files under the datastore's engine folder besides its catalog. */
  const engineFiles = async () => (await filesUnder(path.join(dir, "ds", "clonefleet"))).filter((f) => path.basename(f) !== "catalog.json");

  it("template.delete killed after its record went: recovery removes its folder", async () => {
    const fx = await vmFixture(engine.client, dir);
    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "template-delete:after-commit", kind: "template.delete" }, (c) => c.templates.delete(fx.templateId));
    engine = r.engine;
    expect(r.job.state).toBe("succeeded");
    expect(await engine.client.templates.get(fx.templateId)).toBeNull();
    expect(await engineFiles()).toEqual([]);
  });

  it("fleet.delete killed after its members' records went: recovery removes their QEMUs, folders and disks, then the fleet", async () => {
    const fx = await vmFixture(engine.client, dir);
    const tpl = (await engine.client.templates.get(fx.templateId))!;
    const job = await engine.client.fleets.create({ template_id: fx.templateId, size: 2, datastore_ids: [fx.datastoreId], name_prefix: "web", clone_mode: "full", power_state: "running" });
    const applied = await engine.client.waitJob(job.id, { timeoutMs: 120_000 });
    const fleetId = applied.target_id!;
    const members = (await engine.client.vms.list()).filter((v) => v.fleet_id === fleetId);
    expect(members).toHaveLength(2);
    expect(members.every((m) => livePid(m.state_dir) !== null)).toBe(true);

    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_VM_HOLD", step: "delete:after-commit", kind: "fleet.delete" }, (c) => c.fleets.delete(fleetId));
    engine = r.engine;
    expect(r.job.state).toBe("succeeded");
    expect(await engine.client.fleets.get(fleetId)).toBeNull();
    expect(await engine.client.vms.list()).toEqual([]);
    expect(await engineFiles()).toEqual([tpl.disk_path]);
    for (const m of members) expect(livePid(m.state_dir)).toBeNull();
    expect(await fs.readdir(path.join(stateDir, "vms"))).toEqual([]);
  });

  it("disk.register and catalog.rescan killed after their intent: recovery runs them again and they finish", async () => {
    const dsPath = path.join(dir, "ds");
    await fs.mkdir(dsPath, { recursive: true });
    const ds = await engine.client.datastores.create({ name: "d", path: dsPath });
    const chain = await makeChain(path.join(dsPath, "disks"));

    const reg = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "disk-register:after-intent", kind: "disk.register" }, (c) => c.disks.register(chain.top));
    engine = reg.engine;
    expect(reg.job.state).toBe("succeeded");
    expect((reg.job.result as { registered: string[] }).registered).toEqual([chain.top, chain.middle, chain.base]);
    const described = await engine.client.disks.chain(chain.top);
    expect(described.layers.every((l) => typeof l.content_id === "string")).toBe(true);

    const scan = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "catalog-rescan:after-intent", kind: "catalog.rescan" }, (c) => c.catalogs.rescan(ds.id));
    engine = scan.engine;
    expect(scan.job.state).toBe("succeeded");
    const kept = (scan.job.result as { kept: { path: string }[] }).kept.map((k) => k.path).sort();
    expect(kept).toEqual([chain.base, chain.middle, chain.top].sort());
  });

  it("a fleet being deleted refuses an apply (PUT) with 409 naming the fleet and the delete job, changing nothing; the delete then finishes", async () => {
    const fx = await vmFixture(engine.client, dir);
    const spec = { template_id: fx.templateId, size: 1, datastore_ids: [fx.datastoreId], name_prefix: "db", clone_mode: "linked" as const, power_state: "stopped" as const };
    const applied = await engine.client.waitJob((await engine.client.fleets.create(spec)).id, { timeoutMs: 120_000 });
    const fleetId = applied.target_id!;
    await engine.stop();

    // The delete parks once its members' records went, while the fleet record stands.
    const held = await spawnEngine(stateDir, ARGS, { CLONEFLEET_FAULT_VM_HOLD: "delete:after-commit" });
    engine = held;
    const pending = held.client.fleets.delete(fleetId).catch(() => undefined);
    const del = await heldJob(held.client, "fleet.delete", "delete:after-commit");
    const jobsBefore = (await held.client.jobs.list()).length;
    const refused = await apiError(held.client.fleets.update(fleetId, { ...spec, size: 3 }));
    expect(refused.status).toBe(409);
    expect(refused.code).toBe("CF_CONFLICT");
    expect(refused.field).toBe("id");
    expect(refused.message).toContain(`fleet db (${fleetId})`);
    expect(refused.message).toContain(`being deleted by job ${del.id}`);
    // Bad timing changes nothing: no apply job recorded, the declaration kept.
    expect((await held.client.jobs.list()).length).toBe(jobsBefore);
    expect((await held.client.fleets.get(fleetId))?.size).toBe(1);
    await held.kill();
    await pending;

    engine = await spawnEngine(stateDir, ARGS);
    expect((await engine.client.jobs.get(del.id)).state).toBe("succeeded");
    expect(await engine.client.fleets.get(fleetId)).toBeNull();
  });
});
