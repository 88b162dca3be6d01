import * as path from "node:path";
import { writeCatalog, type CatalogEntry } from "../disk";
import type { Store } from "../store";
import { pathIsWithin } from "../model";

/**
 * Rewrites a datastore's catalog file from the inventory, so the content IDs on disk always
 * match the records. Call after every change to a layer on that datastore, outside the
 * store transaction that made it (the catalog follows the committed inventory).
 */
export async function syncCatalog(store: Store, datastoreId: string): Promise<void> {
  const ds = store.getDatastore(datastoreId);
  if (!ds) return;
  const entries: CatalogEntry[] = store
    .listLayers({ datastoreId })
    .filter((l) => l.state === "ready")
    .map((l) => ({
      path: path.relative(ds.path, l.path),
      contentId: l.contentId,
      parentContentId: l.parentContentId,
      backingPath: l.backingPath === null ? null : pathIsWithin(ds.path, l.backingPath) ? path.relative(ds.path, l.backingPath) : l.backingPath,
      virtualSizeBytes: l.virtualSizeBytes,
      format: l.format,
    }));
  await writeCatalog(ds.path, entries);
}
