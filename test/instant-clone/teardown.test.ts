import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { ParentWire } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import { filesUnder } from "../support/files";
import { createVm, killAllVms, vmFixture } from "../support/vms";

// Real QEMU (TCG), firmware-only VMs. Nothing a parent or its source VM made may outlive both records.
jest.setTimeout(180_000);

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };
let dsPath: string;

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "tcg" } });
  fx = await vmFixture(t.client, t.dir, 64);
  dsPath = path.join(t.dir, "ds");
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
  await fs.rm(t.engine.runner.settings.parentTmpfsDir!, { recursive: true, force: true });
});

/** Files under the datastore's engine folder other than the template's and the catalog. */
async function leftovers(): Promise<string[]> {
  const engineDir = path.join(dsPath, "clonefleet");
  return (await filesUnder(engineDir)).map((f) => path.relative(engineDir, f)).filter((f) => !f.startsWith("templates/") && f !== "catalog.json");
}

test("a parent deleted while its source VM runs on the frozen disk, then that VM: no frozen disk, overlay or folder stays", async () => {
  const src = await createVm(t.client, "td-src", fx.templateId);
  await t.client.vms.start(src.id);
  const job = await t.client.parents.create({ source_vm_id: src.id, name: "td" });
  const parent = (await t.client.waitJob(job.id, { timeoutMs: 60_000 })).result as ParentWire;
  // The source VM comes back on a new overlay over the parent's frozen layer.
  const restarted = await t.client.vms.start(src.id);
  expect(restarted.disk_layers!.map((l) => l.path)).toContain(parent.disk_path);

  await t.client.parents.delete(parent.id);
  // The frozen layer stays while the VM runs on it; the children's overlay and state do not.
  expect(await leftovers()).toEqual(
    expect.arrayContaining([path.relative(path.join(dsPath, "clonefleet"), parent.disk_path)]),
  );
  expect((await leftovers()).filter((f) => f.startsWith("parents/") && !f.endsWith(path.basename(parent.disk_path)))).toEqual([]);

  await t.client.vms.delete(src.id);
  expect(await leftovers()).toEqual([]);
  const parentsDir = path.join(dsPath, "clonefleet", "parents");
  expect(await fs.readdir(parentsDir).catch(() => [])).toEqual([]);
});

describe("a datastore deleted right after its parent, while a pre-started child of it still waits", () => {
  let e: TestEngine | null = null;
  afterAll(async () => {
    if (!e) return;
    await killAllVms(path.join(e.stateDir, "vms"));
    await fs.rm(e.dir, { recursive: true, force: true });
  });

  test("the engine still closes cleanly and the child's QEMU and files go", async () => {
    // A long pass interval: after the first pass (asked for below) nothing discards the
    // pre-started child before the datastore is gone; the engine's close does.
    e = await startTestEngine({ engine: { accel: "tcg", warmChildren: { intervalMs: 60_000 } } });
    const tmpfsDir = e.engine.runner.settings.parentTmpfsDir!;
    let closed = false;
    try {
      const f = await vmFixture(e.client, e.dir, 64);
      const src = await createVm(e.client, "wd-src", f.templateId);
      await e.client.vms.start(src.id);
      const job = await e.client.parents.create({ source_vm_id: src.id, name: "wd", warm_count: 1 });
      const parent = (await e.client.waitJob(job.id, { timeoutMs: 60_000 })).result as ParentWire;
      e.engine.warm.nudge();
      for (let i = 0; i < 300 && (await e.client.parents.get(parent.id))!.warm_ready < 1; i++) await new Promise((r) => setTimeout(r, 100));
      expect((await e.client.parents.get(parent.id))!.warm_ready).toBe(1);

      await e.client.parents.delete(parent.id);
      await e.client.vms.delete(src.id);
      await e.client.templates.delete(f.templateId);
      await e.client.datastores.delete(f.datastoreId);
      closed = true;
      await e.engine.close();
    } finally {
      if (!closed) await e.engine.close().catch(() => undefined);
      await fs.rm(tmpfsDir, { recursive: true, force: true });
    }
    // The datastore's catalog stays: the child's folder was still there when the datastore went.
    expect((await filesUnder(path.join(e.dir, "ds", "clonefleet"))).map((x) => path.basename(x))).toEqual(["catalog.json"]);
    expect(await fs.readdir(path.join(e.stateDir, "vms")).catch(() => [])).toEqual([]);
  });
});
