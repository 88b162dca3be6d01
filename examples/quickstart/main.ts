/**
 * The quickstart: an engine on the embedded default (SQLite in ./.quickstart/state), two local
 * datastores, a template image built here from Debian packages, imported and inspected; then a
 * disk pool on each datastore and a fleet of 8 clones from the pools, showing how each clone's
 * disk was provisioned and how long that took next to a full copy; then three members powered
 * on, one forked while it runs, parent and child shown running with their (flat) disk chains;
 * then a booted guest captured as an instant-clone parent and 16 instant clones of it, their
 * start times and shared memory shown next to a cold boot.
 * Run with `npm run quickstart`; everything it makes stays under ./.quickstart.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import pino from "pino";
import { startEngine } from "../../engine/api/engine";
import { ClonefleetClient, type FleetApplyWire, type VmWire } from "../../engine/client";
import { check } from "../../engine/disk";
import { PROJECT_ROOT } from "../../engine/version";
import { buildTemplateImage } from "../../scripts/template-image";
import { instantCloneTour } from "./instant-clones";

function step(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function main(): Promise<void> {
  const home = path.join(PROJECT_ROOT, ".quickstart");
  await fs.rm(home, { recursive: true, force: true });
  const stateDir = path.join(home, "state");
  const dsPath = path.join(home, "datastore-1");
  const ds2Path = path.join(home, "datastore-2");

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

    step("adding a second datastore and a disk pool of the template on each (filled in the background)");
    const ds2 = await api.datastores.create({ name: "local-2", path: ds2Path });
    const pools = [];
    for (const d of [ds, ds2]) {
      const pool = await api.pools.create({ template_id: tpl.id, datastore_id: d.id, size: 4 });
      const filled = await api.waitPoolReady(pool.id, { timeoutMs: 120_000 });
      console.log(`pool ${filled.id} on ${d.name}: ${filled.ready}/${filled.size} ready copies in ${path.dirname(filled.copies[0].path)}`);
      pools.push(filled);
    }

    step("a fleet of 8 clones over both datastores: ready pool copies are moved in with a rename");
    const fleetStarted = performance.now();
    const applyJob = await api.fleets.create({ template_id: tpl.id, size: 8, datastore_ids: [ds.id, ds2.id], name_prefix: "qs" });
    const applied = (await api.waitJob(applyJob.id)).result as FleetApplyWire;
    const fleetMs = performance.now() - fleetStarted;
    const dsName = new Map([ds, ds2].map((d) => [d.id, d.name]));
    for (const a of applied.added) console.log(`${a.name.padEnd(6)} ${dsName.get(a.datastore_id)?.padEnd(8)} ${a.provisioned_by.padEnd(5)} ${a.disk_path}`);
    const fromPools = applied.added.filter((a) => a.provisioned_by === "pool").length;
    console.log(`fleet ${applied.fleet.name_prefix} (${applied.fleet.id}): ${applied.added.length} clones, ${fromPools} from pools`);

    step("the same disk made by a full copy, for comparison");
    const copyStarted = performance.now();
    const copyJob = await api.vms.create({ name: "qs-full-copy", template_id: tpl.id, clone_mode: "full" });
    const copied = (await api.waitJob(copyJob.id)).result as VmWire;
    const copyMs = performance.now() - copyStarted;
    console.log(`one full copy (${copied.provisioned_by}): ${copyMs.toFixed(1)} ms through the API`);
    console.log(`8 clones from pools: ${fleetMs.toFixed(1)} ms through the API, ${applied.provision_ms.toFixed(2)} ms of it moving disks`);
    console.log(`per clone: ${(fleetMs / 8).toFixed(1)} ms from a pool vs ${copyMs.toFixed(1)} ms for a full copy of this ${(tpl.virtual_size_bytes / 2 ** 20).toFixed(0)} MiB template`);
    console.log(`(the bigger the template, the bigger the gap: see bench/pool-vs-copy.ts)`);
    await api.vms.delete(copied.id);

    step("powering three fleet members on (firmware-only guests: real QEMU processes that idle)");
    const members = (await api.vms.list({ fleetId: applied.fleet.id })).slice(0, 3);
    const running: VmWire[] = [];
    for (const m of members) {
      const on = await api.vms.start(m.id);
      running.push(on);
      console.log(`${on.name.padEnd(6)} ${on.power_state} on ${on.accel}, pid ${on.pid}, chain depth ${on.chain_depth}`);
    }

    step(`forking ${running[0].name} while it runs (S5; its disk is inherited per S2)`);
    const forkJob = await api.vms.fork(running[0].id, { name: `${running[0].name}-child` });
    const child = (await api.waitJob(forkJob.id)).result as VmWire & { parent_stun_ms: number | null; child_ready_ms: number | null; layout: string };
    const parent = (await api.vms.get(running[0].id))!;
    console.log(`parent stunned ${child.parent_stun_ms} ms; child running ${child.child_ready_ms} ms after the stun; disks: ${child.layout}`);
    for (const v of [parent, child]) {
      console.log(`${v.name} (${v.id}): ${v.power_state}, pid ${v.pid}, chain depth ${v.chain_depth}${v.forked_from ? `, forked from ${v.forked_from}` : ""}`);
      for (const l of v.disk_layers ?? []) console.log(`    ${l.content_id}  ${l.path}`);
    }
    console.log("parent and child share the frozen base below their own overlays; a fork of the child copies its overlay, so chains stay at depth 2");

    step("powering them off again");
    for (const v of [...running, child]) await api.vms.stop(v.id, { timeout_seconds: 0 });
    console.log(`${running.length + 1} VMs stopped (VMs outlive the engine: a running VM is found again at the next start)`);

    const icParent = await instantCloneTour(api, { datastoreId: ds.id, firmwareTemplateId: tpl.id, step });

    step("the pools refill in the background");
    for (const p of pools) {
      const again = await api.waitPoolReady(p.id, { timeoutMs: 120_000 });
      console.log(`pool ${again.id}: ${again.ready}/${again.size} ready again`);
    }

    step("next");
    console.log(`Serve this state yourself:  bin/clonefleet engine serve --state-dir ${stateDir}`);
    console.log(`Then, in another shell:     bin/clonefleet --state-dir ${stateDir} template ls`);
    console.log(`                            bin/clonefleet --state-dir ${stateDir} pool ls`);
    console.log(`                            bin/clonefleet --state-dir ${stateDir} fleet show ${applied.fleet.id}`);
    console.log(`                            bin/clonefleet --state-dir ${stateDir} vm start ${parent.id}`);
    console.log(`                            bin/clonefleet --state-dir ${stateDir} vm fork ${parent.id} --name another`);
    console.log(`                            bin/clonefleet --state-dir ${stateDir} vm instant-clone ${icParent.id} --count 4 --name-prefix more`);
  } finally {
    await engine.close();
  }
}

main().catch((err: unknown) => {
  console.error(`quickstart failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
