import * as path from "node:path";
import { inspectChainCached, readCatalog } from "../disk";
import { internal, invalidField } from "../errors";
import { absolutePathProblem, pathIsWithin, type LayerOwnerKind } from "../model";
import { settleCatalog } from "./catalog-sync";
import type { OpContext } from "./context";

/** One layer of a chain as users see it, top first. */
export interface ChainLayerView {
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingPath: string | null;
  /** Null when neither the inventory nor a catalog vouches for this file. */
  contentId: string | null;
  parentContentId: string | null;
  layerId: string | null;
  ownerKind: LayerOwnerKind | null;
  ownerId: string | null;
  datastoreId: string | null;
}

/**
 * Describes the backing chain of a disk inside a datastore: each layer from qemu-img (or from its
 * last answer while a stat finds every layer file unchanged) with its content IDs from the inventory, or from the datastore's catalog when the inventory has no
 * record. Paths outside every datastore are refused.
 */
export async function describeChain(ctx: OpContext, diskPath: string): Promise<ChainLayerView[]> {
  const issue = absolutePathProblem(diskPath);
  if (issue) throw invalidField("path", issue);
  const datastores = await ctx.store.datastores.list();
  const home = datastores.find((d) => pathIsWithin(d.path, diskPath));
  if (!home) throw invalidField("path", `${diskPath} is not inside any datastore`);
  const layers = await inspectChainCached(diskPath).catch((err) => {
    throw invalidField("path", `cannot inspect ${diskPath}: ${(err as Error).message}`);
  });
  const catalogs = new Map<string, Awaited<ReturnType<typeof readCatalog>>>();
  const views: ChainLayerView[] = [];
  for (const l of layers) {
    const record = await ctx.store.layers.findByPath(l.path);
    const ds = datastores.find((d) => pathIsWithin(d.path, l.path)) ?? null;
    let contentId = record?.contentId ?? null;
    let parentContentId = record?.parentContentId ?? null;
    if (!record && ds) {
      if (!catalogs.has(ds.id)) {
        await settleCatalog(ds.id);
        catalogs.set(ds.id, await readCatalog(ds.path).catch((err) => {
          throw internal(`reading the catalog of datastore ${ds.name}`, err);
        }));
      }
      const entry = catalogs.get(ds.id)!.find((e) => path.resolve(ds.path, e.path) === l.path);
      contentId = entry?.contentId ?? null;
      parentContentId = entry?.parentContentId ?? null;
    }
    views.push({
      path: l.path,
      format: l.format,
      virtualSizeBytes: l.virtualSizeBytes,
      actualSizeBytes: l.actualSizeBytes,
      backingPath: l.backingPath,
      contentId,
      parentContentId,
      layerId: record?.id ?? null,
      ownerKind: record?.ownerKind ?? null,
      ownerId: record?.ownerId ?? null,
      datastoreId: ds?.id ?? null,
    });
  }
  return views;
}
