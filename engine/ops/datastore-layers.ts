import { promises as fs } from "node:fs";
import { notFound } from "../errors";
import type { DiskLayer } from "../model";
import type { Inventory } from "../store";

/** A recorded layer with the room its file takes now (null when the file is gone). */
export interface DatastoreLayerView extends DiskLayer {
  allocatedBytes: number | null;
}

/**
 * Every layer recorded on a datastore with its file's allocated size: what a layer graph of
 * the datastore is drawn from (each layer's backing path names the layer it rests on).
 */
export async function listDatastoreLayers(store: Inventory, datastoreId: string): Promise<DatastoreLayerView[]> {
  if (!(await store.datastores.get(datastoreId))) throw notFound("datastore", datastoreId, "id");
  const layers = await store.layers.list({ datastoreId });
  return Promise.all(
    layers.map(async (l) => {
      const st = await fs.stat(l.path).catch(() => null);
      return { ...l, allocatedBytes: st ? st.blocks * 512 : null };
    }),
  );
}
