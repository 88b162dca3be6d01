import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { FleetApplyWire } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import { expectOneOwnerPerFile, importTemplate, makeDataImage } from "../support/clones";

describe("an engine restart with pools and fleets", () => {
  let dir: string;
  let t: TestEngine | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-restart-pools-"));
  });
  afterAll(async () => {
    await t?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("marks members whose disks vanished as drifted, drops vanished pool copies, and repairs both", async () => {
    t = await startTestEngine({ dir });
    const root = path.join(dir, "ds");
    const ds = (await t.client.datastores.create({ name: "ds", path: root })).id;
    const tpl = await importTemplate(t.client, "base", ds, await makeDataImage(path.join(dir, "src.raw"), 16, 2));
    const pool = await t.client.pools.create({ template_id: tpl.id, datastore_id: ds, size: 2 });
    await t.client.waitPoolReady(pool.id);
    const spec = { template_id: tpl.id, size: 3, datastore_ids: [ds], name_prefix: "r" };
    const job = await t.client.fleets.create(spec);
    const fleet = ((await t.client.waitJob(job.id)).result as FleetApplyWire).fleet;
    const ready = await t.client.waitPoolReady(pool.id);
    await t.stop();

    // Outside changes while the engine is down: a member's disk and a pool copy are deleted.
    const lostMember = fleet.vms[1];
    await fs.rm(lostMember.disk_path);
    await fs.rm(ready.copies[0].path);

    t = await startTestEngine({ dir });
    const report = (await t.client.engine()).last_recovery as { driftedVms: string[]; discardedPoolCopies: string[] };
    expect(report.driftedVms).toEqual([lostMember.id]);
    expect(report.discardedPoolCopies).toEqual([ready.copies[0].layer_id]);
    expect((await t.client.vms.get(lostMember.id))?.state).toBe("drifted");
    const seen = (await t.client.fleets.get(fleet.id))!;
    expect(seen).toMatchObject({ state: "drifted", members_ready: 2 });

    // The pool refills by itself; the fleet is repaired by the next apply.
    await t.client.waitPoolReady(pool.id);
    const again = await t.client.fleets.update(fleet.id, spec);
    const repaired = (await t.client.waitJob(again.id)).result as FleetApplyWire;
    expect(repaired.replaced).toEqual([{ id: lostMember.id, name: lostMember.name }]);
    expect(repaired.fleet).toMatchObject({ state: "ready", members_ready: 3 });
    await expectOneOwnerPerFile(t.client, [root]);
  });
});
