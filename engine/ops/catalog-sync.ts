import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Logger } from "pino";
import { engineDir, readCatalog, writeCatalog, type CatalogEntry } from "../disk";
import { isNoSpaceError, noSpace } from "../errors";
import type { Inventory } from "../store";
import { pathIsWithin, type Datastore } from "../model";

/**
 * Rewrites a datastore's catalog file from the inventory, so the content IDs on disk always
 * match the records. Call after every change to a layer on that datastore, outside the
 * store transaction that made it (the catalog follows the committed inventory). Entries the
 * inventory does not hold for files outside the engine's own folder (registered by hand or
 * written by another engine) are kept: only a catalog rescan drops them.
 */
export async function syncCatalog(store: Inventory, datastoreId: string): Promise<void> {
  const ds = await store.datastores.get(datastoreId);
  if (!ds) return;
  await withCatalogLock(ds.id, async () => {
    // An unreadable catalog is rewritten from the inventory, as it always was.
    const existing = await readCatalog(ds.path).catch(() => [] as CatalogEntry[]);
    try {
      await writeCatalog(ds.path, [...await inventoryCatalogEntries(store, ds), ...await foreignCatalogEntries(store, ds, existing)]);
    } catch (err) {
      // The rewrite replaces the file atomically: a full disk leaves the old catalog in place.
      if (isNoSpaceError(err)) throw noSpace(`writing the layer catalog of datastore ${ds.name}`, err);
      throw err;
    }
  });
}

/**
 * How long a deferred catalog rewrite waits for more changes to the same datastore: a burst of
 * requests costs one rewrite (and one fsync) instead of one each.
 */
export const DEFERRED_CATALOG_SYNC_MS = 100;

interface DeferredSync {
  store: Inventory;
  log: Logger;
  timer: NodeJS.Timeout;
}

/** Rewrites scheduled and not started yet, by datastore id. */
const deferredSyncs = new Map<string, DeferredSync>();
/** The latest deferred rewrite started per datastore (rewrites of one datastore run in order under its lock). */
const runningSyncs = new Map<string, Promise<void>>();

/**
 * Schedules `syncCatalog` for a datastore shortly after, off the caller's path, coalescing the
 * calls of a burst into one rewrite. For changes whose answer does not need the catalog: the
 * catalog is no source of truth, and a crash before the rewrite leaves it behind the inventory
 * only until the next start, whose reconciliation rewrites every catalog from the inventory.
 * Readers of the catalog call `settleCatalog` first; the engine's close calls
 * `flushDeferredCatalogSyncs`. A failed rewrite is logged, never thrown.
 */
export function syncCatalogSoon(store: Inventory, datastoreId: string, log: Logger): void {
  const pending = deferredSyncs.get(datastoreId);
  if (pending) {
    pending.store = store;
    return;
  }
  const timer = setTimeout(() => void startDeferredSync(datastoreId), DEFERRED_CATALOG_SYNC_MS);
  timer.unref();
  deferredSyncs.set(datastoreId, { store, log, timer });
}

function startDeferredSync(datastoreId: string): Promise<void> {
  const pending = deferredSyncs.get(datastoreId);
  if (!pending) return runningSyncs.get(datastoreId) ?? Promise.resolve();
  clearTimeout(pending.timer);
  deferredSyncs.delete(datastoreId);
  const run = (async () => {
    try {
      const ds = await pending.store.datastores.get(datastoreId);
      // A datastore whose folder went (removed, or its disk unmounted) gets no catalog made anew.
      if (!ds || !(await fs.stat(engineDir(ds.path)).then((s) => s.isDirectory(), () => false))) return;
      await syncCatalog(pending.store, datastoreId);
    } catch (err) {
      pending.log.warn({ err, datastoreId }, "deferred catalog rewrite failed; the next change or the next start rewrites it");
    }
  })();
  runningSyncs.set(datastoreId, run);
  void run.finally(() => {
    if (runningSyncs.get(datastoreId) === run) runningSyncs.delete(datastoreId);
  });
  return run;
}

/** Runs a datastore's deferred catalog rewrite now, if one is scheduled, and waits for it (and one already running) to end; never throws. */
export async function settleCatalog(datastoreId: string): Promise<void> {
  await startDeferredSync(datastoreId);
}

/** Runs every deferred catalog rewrite of `store` now and waits for them; call before the store closes. Never throws. */
export async function flushDeferredCatalogSyncs(store: Inventory): Promise<void> {
  const ids = [...deferredSyncs].filter(([, d]) => d.store === store).map(([id]) => id);
  await Promise.all([...ids.map((id) => startDeferredSync(id)), ...runningSyncs.values()]);
}

/** The catalog entries the inventory vouches for on a datastore: its ready layers, with absolute paths. */
export async function inventoryCatalogEntries(store: Inventory, ds: Datastore): Promise<CatalogEntry[]> {
  return (await store.layers.list({ datastoreId: ds.id }))
    .filter((l) => l.state === "ready")
    .map((l) => ({
      path: l.path,
      contentId: l.contentId,
      parentContentId: l.parentContentId,
      backingPath: l.backingPath,
      virtualSizeBytes: l.virtualSizeBytes,
      format: l.format,
    }));
}

/** The entries of `existing` that no inventory layer holds and that lie outside the engine's own folder. */
export async function foreignCatalogEntries(store: Inventory, ds: Datastore, existing: readonly CatalogEntry[]): Promise<CatalogEntry[]> {
  const known = new Set((await store.layers.list({ datastoreId: ds.id })).map((l) => l.path));
  const own = engineDir(ds.path);
  return existing.filter((e) => !known.has(path.resolve(e.path)) && !pathIsWithin(own, e.path));
}

const catalogLocks = new Map<string, Promise<void>>();

/**
 * Runs `fn` while holding this process's lock on one datastore's catalog, so read-modify-write
 * cycles of the catalog file never interleave; resolves or rejects with `fn`'s outcome.
 */
export async function withCatalogLock<T>(datastoreId: string, fn: () => Promise<T>): Promise<T> {
  const previous = catalogLocks.get(datastoreId) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = previous.then(() => mine);
  catalogLocks.set(datastoreId, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (catalogLocks.get(datastoreId) === tail) catalogLocks.delete(datastoreId);
  }
}
