import { promises as fs } from "node:fs";
import * as path from "node:path";
import { engineDir, imageInfoChain, newContentId, readCatalog, writeCatalog, type CatalogEntry, type ImageInfo } from "../disk";
import { internal, invalidField } from "../errors";
import { absolutePathProblem, pathIsWithin, type Datastore } from "../model";
import type { Inventory } from "../store";
import { withCatalogLock } from "./catalog-sync";
import { chainConfinementProblem } from "./chain-confinement";
import type { OpContext } from "./context";
import { describeChain, type ChainLayerView } from "./disk-chain";
import { CatalogView } from "./layer-evidence";

/** Register the chain topped by `path` (a qcow2 file inside a datastore). */
export interface RegisterDiskRequest {
  path: string;
}

/** The chain after registration, top first, and the layers that got a content ID now. */
export interface RegisterDiskResult {
  path: string;
  layers: ChainLayerView[];
  registered: string[];
}

/**
 * Gives content IDs to the layers of a chain put into datastores by hand or by another tool,
 * so the chain can be replicated: each layer the inventory or a catalog already vouches for
 * keeps its IDs; every other layer gets a fresh content ID and records its parent's as its
 * parent content ID, in the catalog of the datastore holding it (the inventory is not changed:
 * the engine does not own these files and never removes them). Every layer must be a qcow2
 * file inside a datastore (symlinks resolved) and outside the engine's own folders, holding
 * its own data (no external data file). Checks everything before
 * writing anything; throws 400 naming `path`.
 */
export async function registerDisk(ctx: OpContext, req: RegisterDiskRequest): Promise<RegisterDiskResult> {
  const { top, infos, additions } = await planRegistration(ctx.store, req);
  const registered: string[] = [];
  for (const { ds, entries } of additions.values()) {
    await withCatalogLock(ds.id, async () => {
      const existing = await readCatalog(ds.path).catch((err) => {
        throw internal(`reading the catalog of datastore ${ds.name}`, err);
      });
      const replaced = new Set(entries.map((e) => e.path));
      await writeCatalog(ds.path, [...existing.filter((e) => !replaced.has(e.path)), ...entries]);
    });
    registered.push(...entries.map((e) => e.path));
    ctx.log.info({ datastoreId: ds.id, layers: entries.map((e) => e.path) }, "registered disk layers in the catalog");
  }
  return { path: top, layers: await describeChain(ctx, top), registered: registered.sort((a, b) => infos.findIndex((i) => i.path === a) - infos.findIndex((i) => i.path === b)) };
}

/** Checks a registration as registerDisk does (400 naming `path`) without writing anything. */
export async function checkDiskRegister(store: Inventory, req: RegisterDiskRequest): Promise<void> {
  await planRegistration(store, req);
}

/** The chain's layers and, per datastore, the catalog entries a registration adds; throws 400 naming `path`. Reads only. */
async function planRegistration(store: Inventory, req: RegisterDiskRequest): Promise<{ top: string; infos: ImageInfo[]; additions: Map<string, { ds: Datastore; entries: CatalogEntry[] }> }> {
  const issue = absolutePathProblem(req.path);
  if (issue) throw invalidField("path", issue);
  const top = path.resolve(req.path);
  const view = await CatalogView.open(store);
  if (!view.datastoreOf(top)) throw invalidField("path", `${top} is not inside any datastore`);
  const st = await fs.stat(top).catch(() => null);
  if (!st || !st.isFile()) throw invalidField("path", `${top}: no such file`);
  let infos: ImageInfo[];
  try {
    infos = await imageInfoChain(top);
  } catch (err) {
    throw invalidField("path", `cannot read the chain of ${top}: ${(err as Error).message}`);
  }
  const confinement = await chainConfinementProblem(infos, await store.datastores.list());
  if (confinement) throw invalidField("path", confinement);

  // Bottom-up, so that each new layer can record its parent's content ID.
  const additions = new Map<string, { ds: Datastore; entries: CatalogEntry[] }>();
  let parentId: string | null = null;
  for (const info of [...infos].reverse()) {
    const known = await view.vouch(info, true);
    if (known) {
      parentId = known.contentId;
      continue;
    }
    const ds = view.datastoreOf(info.path);
    if (!ds) throw invalidField("path", `layer ${info.path} of the chain is not inside any datastore; move it into one first`);
    if (pathIsWithin(engineDir(ds.path), info.path)) {
      throw invalidField("path", `layer ${info.path} lies in the engine's own folder of datastore ${ds.name}, where only the engine makes files`);
    }
    if (info.format !== "qcow2") throw invalidField("path", `layer ${info.path} is ${info.format}; only qcow2 layers can be registered`);
    const contentId = newContentId();
    const entry: CatalogEntry = {
      path: info.path,
      contentId,
      parentContentId: info.backingPath === null ? null : parentId,
      backingPath: info.backingPath,
      virtualSizeBytes: info.virtualSizeBytes,
      format: info.format,
    };
    const slot = additions.get(ds.id) ?? { ds, entries: [] };
    slot.entries.push(entry);
    additions.set(ds.id, slot);
    parentId = contentId;
  }
  return { top, infos, additions };
}
