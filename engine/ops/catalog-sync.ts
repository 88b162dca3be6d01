import * as path from "node:path";
import { engineDir, readCatalog, writeCatalog, type CatalogEntry } from "../disk";
import type { Store } from "../store";
import { pathIsWithin, type Datastore } from "../model";

/**
 * Rewrites a datastore's catalog file from the inventory, so the content IDs on disk always
 * match the records. Call after every change to a layer on that datastore, outside the
 * store transaction that made it (the catalog follows the committed inventory). Entries the
 * inventory does not hold for files outside the engine's own folder (registered by hand or
 * written by another engine) are kept: only a catalog rescan drops them.
 */
export async function syncCatalog(store: Store, datastoreId: string): Promise<void> {
  const ds = store.getDatastore(datastoreId);
  if (!ds) return;
  await withCatalogLock(ds.id, async () => {
    // An unreadable catalog is rewritten from the inventory, as it always was.
    const existing = await readCatalog(ds.path).catch(() => [] as CatalogEntry[]);
    await writeCatalog(ds.path, [...inventoryCatalogEntries(store, ds), ...foreignCatalogEntries(store, ds, existing)]);
  });
}

/** The catalog entries the inventory vouches for on a datastore: its ready layers, with absolute paths. */
export function inventoryCatalogEntries(store: Store, ds: Datastore): CatalogEntry[] {
  return store
    .listLayers({ datastoreId: ds.id })
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
export function foreignCatalogEntries(store: Store, ds: Datastore, existing: readonly CatalogEntry[]): CatalogEntry[] {
  const known = new Set(store.listLayers({ datastoreId: ds.id }).map((l) => l.path));
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
