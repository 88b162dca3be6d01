import { startTestEngine } from "../support/engine";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as path from "node:path";
import { promises as fs } from "node:fs";
test("dbg", async () => {
  const t = await startTestEngine();
  const dsPath = path.join(t.dir, "ds");
  await fs.mkdir(dsPath);
  const ds = await t.client.datastores.create({ name: "d", path: dsPath });
  const img = path.join(t.dir, "b.qcow2");
  await promisify(execFile)("qemu-img", ["create", "-q", "-f", "qcow2", img, "32M"]);
  const job = await t.client.templates.import({ name: "x", datastore_id: ds.id, source_path: img, memory_mb: 64, vcpus: 1 });
  const done = await t.client.waitJob(job.id);
  console.log(JSON.stringify(done));
  console.log(JSON.stringify(await t.engine.store.jobs.get(job.id)));
  await t.stop();
});
