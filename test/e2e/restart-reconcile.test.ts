import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { check, compare, readCatalog } from "../../engine/disk";
import { hasPattern, makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

describe("an engine restart", () => {
  let dir: string;
  let t: TestEngine;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-restart-"));
  });
  afterAll(async () => {
    await t?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("keeps content IDs, keeps catalogs equal to the inventory, cleans orphans and reports vanished files as drift", async () => {
    t = await startTestEngine({ dir });
    const dsA = await t.client.datastores.create({ name: "a", path: path.join(dir, "ds-a") });
    const dsB = await t.client.datastores.create({ name: "b", path: path.join(dir, "ds-b") });
    const src = await makeRawImage(path.join(dir, "src.raw"));
    const imported = [];
    for (const [name, ds] of [["one", dsA], ["two", dsA], ["three", dsB]] as const) {
      const job = await t.client.templates.import({ name, datastore_id: ds.id, source_path: src, memory_mb: 512, vcpus: 2 });
      imported.push((await t.client.waitJob(job.id)).result as { id: string; disk_path: string; content_id: string });
    }
    for (const tpl of imported) {
      expect((await check(tpl.disk_path)).ok).toBe(true);
      expect(await hasPattern(tpl.disk_path)).toBe(true);
      expect((await compare(src, tpl.disk_path)).identical).toBe(true);
    }
    await t.stop();

    // Outside changes while the engine is down: a stray file, and a template disk removed by hand.
    const stray = path.join(dir, "ds-a", "clonefleet", "templates", "tpl-stray", "disk.qcow2");
    await fs.mkdir(path.dirname(stray), { recursive: true });
    await fs.writeFile(stray, "left by someone");
    await fs.rm(imported[1].disk_path);

    t = await startTestEngine({ dir });
    const after = await t.client.templates.list();
    const byId = new Map(after.map((x) => [x.id, x]));
    expect(imported.map((x) => byId.get(x.id)?.content_id)).toEqual(imported.map((x) => x.content_id));
    expect(byId.get(imported[0].id)?.state).toBe("ready");
    expect(byId.get(imported[1].id)?.state).toBe("drifted");

    const info = await t.client.engine();
    const report = info.last_recovery as { removedOrphans: string[]; driftedTemplates: string[] };
    expect(report.removedOrphans).toEqual([stray]);
    expect(report.driftedTemplates).toEqual([imported[1].id]);
    await expect(fs.access(path.dirname(stray))).rejects.toThrow();

    for (const ds of [dsA, dsB]) {
      const catalog = (await readCatalog(ds.path)).map((e) => [e.path, e.contentId]).sort();
      const inventory = after
        .filter((x) => x.datastore_id === ds.id && x.state === "ready")
        .map((x) => [x.disk_path, x.content_id])
        .sort();
      expect(catalog).toEqual(inventory);
    }

    const chain = await t.client.disks.chain(imported[0].disk_path);
    expect(chain.layers).toHaveLength(1);
    expect(chain.layers[0]).toMatchObject({ content_id: imported[0].content_id, owner_kind: "template", owner_id: imported[0].id });
  });
});
