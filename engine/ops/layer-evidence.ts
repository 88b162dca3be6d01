import * as path from "node:path";
import { CatalogError, readCatalog, type CatalogEntry, type ImageInfo } from "../disk";
import { conflict } from "../errors";
import { pathIsWithin, type Datastore } from "../model";
import type { Inventory } from "../store";
import { settleCatalog } from "./catalog-sync";

/** The content IDs the engine can vouch for about one file, and who vouches. */
export interface Vouched {
  contentId: string;
  parentContentId: string | null;
  /** `inventory`: a DiskLayer record; `catalog`: an entry in the catalog of the datastore holding the file. */
  by: "inventory" | "catalog";
  datastoreId: string;
}

/**
 * Reads datastore catalogs on demand, once per datastore per instance, so one operation sees
 * one consistent view of each catalog; create one per operation.
 */
export class CatalogView {
  private readonly catalogs = new Map<string, CatalogEntry[]>();
  private constructor(
    private readonly store: Inventory,
    private readonly datastores: Datastore[],
  ) {}

  static async open(store: Inventory): Promise<CatalogView> {
    return new CatalogView(store, await store.datastores.list());
  }

  /** The datastore whose directory holds `p`, or null. */
  datastoreOf(p: string): Datastore | null {
    return this.datastores.find((d) => pathIsWithin(d.path, p)) ?? null;
  }

  /** The entries of a datastore's catalog (absolute paths); throws 409 naming the catalog when it cannot be read, so users know to rescan it. */
  async entries(ds: Datastore): Promise<CatalogEntry[]> {
    let list = this.catalogs.get(ds.id);
    if (!list) {
      await settleCatalog(ds.id);
      list = await readCatalog(ds.path).catch((err) => {
        if (err instanceof CatalogError) {
          throw conflict(`${err.message}; rebuild it with a catalog rescan (POST /datastores/${ds.id}/catalog/rescan)`);
        }
        throw err;
      });
      this.catalogs.set(ds.id, list);
    }
    return list;
  }

  /** The catalog entry listing the file `p`, from the catalog of the datastore holding it; null when none does. */
  async entryFor(p: string): Promise<CatalogEntry | null> {
    const ds = this.datastoreOf(p);
    if (!ds) return null;
    const abs = path.resolve(p);
    return (await this.entries(ds)).find((e) => e.path === abs) ?? null;
  }

  /**
   * What vouches for the content of the file described by `info`: its inventory record when
   * `preferInventory` and there is one, else a catalog entry whose recorded virtual size and
   * format match the file now; null when nothing does (an ID is never made up here).
   */
  async vouch(info: Pick<ImageInfo, "path" | "format" | "virtualSizeBytes">, preferInventory: boolean): Promise<Vouched | null> {
    if (preferInventory) {
      const record = await this.store.layers.findByPath(info.path);
      if (record && record.state === "ready") {
        return { contentId: record.contentId, parentContentId: record.parentContentId, by: "inventory", datastoreId: record.datastoreId };
      }
    }
    const ds = this.datastoreOf(info.path);
    if (!ds) return null;
    const entry = await this.entryFor(info.path);
    if (!entry || entry.format !== info.format || entry.virtualSizeBytes !== info.virtualSizeBytes) return null;
    return { contentId: entry.contentId, parentContentId: entry.parentContentId, by: "catalog", datastoreId: ds.id };
  }
}
