import { promises as fs } from "node:fs";
import * as path from "node:path";
import { engineDir, restrictEngineTree } from "../disk";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { reconcilePools } from "./pool";
import { reconcileVms } from "./vm";
import { parentOwnedPaths } from "./parent-lifecycle";

/** What a reconciliation found and did, kept so users can see it (`GET /engine`). */
export interface ReconcileReport {
  at: string;
  /** Files under the engine's folders that no record owned; they were removed. */
  removedOrphans: string[];
  /** Records whose files vanished; they were marked `drifted`, never dropped. */
  driftedLayers: string[];
  driftedTemplates: string[];
  /** Replicas a layer of which vanished (their own copies or layers they reuse). */
  driftedReplicas: string[];
  /** Datastores whose directory could not be read. */
  unreachableDatastores: string[];
  /** VMs whose disk vanished; marked `drifted` (a fleet's next apply makes them again). */
  driftedVms: string[];
  /** Pool copies whose file vanished; their records were dropped and the pool refills. */
  discardedPoolCopies: string[];
}

/** Files the engine keeps in its folder beside the disks, owned by no single record. */
const ENGINE_FILES = new Set(["catalog.json"]);

/**
 * Brings the datastores and the inventory into agreement after a start: removes files under
 * the engine's folders that no record owns (run only once interrupted jobs were recovered, so
 * their files are owned or gone), marks records whose files vanished as drifted, and
 * rewrites each catalog from the inventory.
 */
export async function reconcileDatastores(ctx: OpContext, opts: { removeOrphans?: boolean } = {}): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    at: new Date().toISOString(),
    removedOrphans: [],
    driftedLayers: [],
    driftedTemplates: [],
    driftedReplicas: [],
    unreachableDatastores: [],
    driftedVms: [],
    discardedPoolCopies: [],
  };
  const owned = await ownedPaths(ctx.store);
  for (const ds of await ctx.store.datastores.list()) {
    const root = engineDir(ds.path);
    const rootExists = await fs.stat(root).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!rootExists) {
      report.unreachableDatastores.push(ds.id);
    } else {
      for (const file of opts.removeOrphans === false ? [] : await walkFiles(root)) {
        if (ENGINE_FILES.has(path.relative(root, file))) continue;
        if (owned.has(file)) continue;
        await fs.rm(file, { force: true });
        report.removedOrphans.push(file);
      }
      if (opts.removeOrphans !== false) await removeEmptyDirs(root, new Set([root, path.join(root, "tmp"), path.join(root, "templates")]));
      // Earlier builds left disks readable by every local user.
      const tightened = await restrictEngineTree(root);
      if (tightened.length > 0) ctx.log.info({ datastoreId: ds.id, count: tightened.length }, "took other users' access away from the engine's files");
    }

    for (const layer of await ctx.store.layers.list({ datastoreId: ds.id })) {
      const present = await fs.stat(layer.path).then(
        (s) => s.isFile(),
        () => false,
      );
      if (!present && layer.state !== "drifted") {
        await ctx.store.tx(async (s) => await s.layers.update(layer.id, { state: "drifted" }));
        report.driftedLayers.push(layer.id);
      }
    }
    for (const t of await ctx.store.templates.list({ datastoreId: ds.id })) {
      const layer = await ctx.store.layers.get(t.diskLayerId);
      if ((!layer || layer.state === "drifted") && t.state !== "drifted") {
        await ctx.store.tx(async (s) => await s.templates.setState(t.id, "drifted"));
        report.driftedTemplates.push(t.id);
      }
    }
    for (const r of await ctx.store.replicas.list({ targetDatastoreId: ds.id })) {
      if (r.state === "drifted") continue;
      for (const l of r.layers) {
        const present = await fs.stat(l.path).then(
          (s) => s.isFile(),
          () => false,
        );
        if (present) continue;
        await ctx.store.tx(async (s) => await s.replicas.update(r.id, { state: "drifted" }));
        report.driftedReplicas.push(r.id);
        break;
      }
    }
    report.discardedPoolCopies.push(...await reconcilePools(ctx, ds.id));
    report.driftedVms.push(...await reconcileVms(ctx, ds.id));
    if (rootExists) await syncCatalog(ctx.store, ds.id);
  }
  for (const f of report.removedOrphans) ctx.log.warn({ file: f }, "removed a file no record owns");
  for (const id of [...report.driftedLayers, ...report.driftedTemplates, ...report.driftedReplicas]) ctx.log.warn({ id }, "record's files vanished; marked drifted");
  return report;
}

async function ownedPaths(store: Inventory): Promise<Set<string>> {
  const owned = new Set<string>();
  for (const l of await store.layers.list()) owned.add(l.path);
  for (const t of await store.templates.list()) {
    if (t.kernel) owned.add(t.kernel);
    if (t.initrd) owned.add(t.initrd);
  }
  // A replica owns the layers it copied (DiskLayer records too), listed here so that its
  // chain never loses a file to reconciliation even if a record were missing.
  for (const r of await store.replicas.list()) {
    for (const l of r.layers) if (l.origin === "copied") owned.add(l.path);
  }
  // Instant-clone parents' device state (and RAM file when it lives on the datastore).
  for (const f of await parentOwnedPaths(store)) owned.add(f);
  return owned;
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await walkFiles(full));
    else out.push(full);
  }
  return out;
}

/** Removes empty folders below `dir` (and `dir` itself unless kept); true when `dir` went. */
async function removeEmptyDirs(dir: string, keep: Set<string>): Promise<boolean> {
  let remaining = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const removed = e.isDirectory() && (await removeEmptyDirs(path.join(dir, e.name), keep));
    if (!removed) remaining += 1;
  }
  if (remaining > 0 || keep.has(dir)) return false;
  await fs.rmdir(dir);
  return true;
}
