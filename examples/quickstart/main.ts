/**
 * The quickstart: an engine on the embedded default (SQLite in ./.quickstart/state), a local
 * datastore, a template image built here from Debian packages, imported and inspected.
 * Run with `npm run quickstart`; everything it makes stays under ./.quickstart.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import pino from "pino";
import { startEngine } from "../../engine/api/engine";
import { ClonefleetClient } from "../../engine/client";
import { check } from "../../engine/disk";
import { PROJECT_ROOT } from "../../engine/version";
import { buildTemplateImage } from "../../scripts/template-image";

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function main(): Promise<void> {
  const home = path.join(PROJECT_ROOT, ".quickstart");
  await fs.rm(home, { recursive: true, force: true });
  const stateDir = path.join(home, "state");
  const dsPath = path.join(home, "datastore-1");

  step("starting the engine (SQLite inventory, token auth, loopback)");
  const engine = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: pino({ level: "warn" }, pino.destination(2)) });
  const api = new ClonefleetClient({ endpoint: engine.url, token: engine.token });
  console.log(`engine at ${engine.url}; token in ${path.join(stateDir, "token")}`);
  try {
    step("adding a datastore");
    const ds = await api.datastores.create({ name: "local", path: dsPath });
    console.log(`datastore ${ds.name} (${ds.id}) at ${ds.path}, ${(ds.free_bytes! / 2 ** 30).toFixed(1)} GiB free`);

    step("building a template image (ext4 made by mke2fs, no download)");
    const image = await buildTemplateImage(home);
    console.log(`image ${image}`);

    step("importing it as a template (a job: copied, converted to qcow2, checked, renamed into place)");
    const started = Date.now();
    const job = await api.templates.import({ name: "tiny", datastore_id: ds.id, source_path: image, memory_mb: 256, vcpus: 1 });
    const done = await api.waitJob(job.id);
    const tpl = done.result as { id: string; name: string; disk_path: string; content_id: string; virtual_size_bytes: number };
    console.log(`template ${tpl.name} (${tpl.id}) imported in ${Date.now() - started} ms by job ${job.id}`);
    console.log(`disk ${tpl.disk_path}`);
    console.log(`content id ${tpl.content_id}`);
    const checked = await check(tpl.disk_path);
    console.log(`qemu-img check: ${checked.ok ? "clean" : `${checked.corruptions} corruptions, ${checked.leaks} leaks`}`);

    step("its disk chain, as `clonefleet disk chain` shows it");
    const chain = await api.disks.chain(tpl.disk_path);
    for (const l of chain.layers) console.log(`${l.path}  ${l.format}  content ${l.content_id}  backing ${l.backing_path ?? "-"}`);

    step("the datastore's catalog (content IDs readable without the inventory)");
    console.log(await fs.readFile(path.join(dsPath, "clonefleet", "catalog.json"), "utf8"));

    step("next");
    console.log(`Serve this state yourself:  bin/clonefleet engine serve --state-dir ${stateDir}`);
    console.log(`Then, in another shell:     bin/clonefleet --state-dir ${stateDir} template ls`);
  } finally {
    await engine.close();
  }
}

main().catch((err: unknown) => {
  console.error(`quickstart failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
