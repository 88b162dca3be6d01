import { existsSync, promises as fs } from "node:fs";
import { poolDir } from "../disk";
import { conflict, invalidField, notFound } from "../errors";
import {
  intRangeProblem,
  LOCAL_HOST_ID,
  newId,
  nowIso,
  POOL_SIZE_RANGE,
  type DiskLayer,
  type Pool,
  type PoolCopy,
} from "../model";
import { StoreConstraintError, type Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { faultHold } from "./fault-hold";
import { cloneSource } from "./provision/provisioner";

/** A request for a new disk pool of a template on a datastore. */
export interface CreatePoolRequest {
  templateId: string;
  datastoreId: string;
  size: number;
  /** Must be `local` when given: there is one host. */
  hostId?: string | null;
}

/** A ready copy as users see it. */
export interface PoolCopyView {
  layerId: string;
  path: string;
  contentId: string;
  templateContentId: string;
  createdAt: string;
}

/** A copy being made now, with how far along it is (0..1). */
export interface PoolFillView {
  layerId: string;
  fraction: number;
  startedAt: string;
}

/** What is being copied into pools right now; the refill loop answers it. */
export interface PoolFillStatus {
  fillsOf(poolId: string): PoolFillView[];
}

/** How a pool stands: holding its size, copying towards it, waiting out a back-off after an error, or short with nothing running. */
export type PoolState = "ready" | "filling" | "waiting" | "below_size";

/** A pool with what it holds now: usable copies (matching the template, file present) and copies in progress. */
export interface PoolView extends Pool {
  hostId: string;
  ready: number;
  filling: number;
  copies: PoolCopyView[];
  fills: PoolFillView[];
  /** The template's content ID copies must have been made from to be handed out. */
  templateContentId: string | null;
  state: PoolState;
}

/** Refuses a `host_id` other than `local`, naming `field`. */
export function checkHostId(hostId: string | null | undefined, field = "host_id"): void {
  if (hostId === undefined || hostId === null || hostId === LOCAL_HOST_ID) return;
  throw invalidField(field, `unknown host ${JSON.stringify(hostId)}: this engine runs only host "${LOCAL_HOST_ID}"`);
}

/**
 * Checks a pool request against the inventory, touching nothing; throws a 4xx EngineError
 * naming the first bad field (size out of range, unknown template or datastore, another host,
 * a pool already there).
 */
export async function checkPoolRequest(store: Inventory, req: CreatePoolRequest): Promise<void> {
  checkHostId(req.hostId);
  const sizeIssue = intRangeProblem(req.size, POOL_SIZE_RANGE);
  if (sizeIssue) throw invalidField("size", sizeIssue);
  await cloneSource(store, req.templateId, "template_id");
  const ds = await store.datastores.get(req.datastoreId);
  if (!ds) throw notFound("datastore", req.datastoreId, "datastore_id");
  const existing = await store.pools.find(req.templateId, req.datastoreId);
  if (existing) throw conflict(`datastore ${ds.name} already has a pool of template ${req.templateId} (${existing.id})`, "datastore_id");
}

/** Records a pool; the refill loop fills it in the background. Throws like `checkPoolRequest`. */
export async function createPool(ctx: OpContext, req: CreatePoolRequest, fills?: PoolFillStatus): Promise<PoolView> {
  await checkPoolRequest(ctx.store, req);
  const pool: Pool = {
    id: newId("pool"),
    templateId: req.templateId,
    datastoreId: req.datastoreId,
    size: req.size,
    lastError: null,
    failures: 0,
    retryAt: null,
    createdAt: nowIso(),
  };
  try {
    await ctx.store.tx(async (s) => {
      await checkPoolRequest(s, req);
      await s.pools.insert(pool);
    });
  } catch (err) {
    if (err instanceof StoreConstraintError) throw conflict(`a pool of this template is already on that datastore`, "datastore_id");
    throw err;
  }
  ctx.log.info({ poolId: pool.id, templateId: pool.templateId, datastoreId: pool.datastoreId, size: pool.size }, "pool created");
  return getPoolView(ctx.store, pool.id, fills);
}

/** Copies a pool change discards: their files, recorded as a job's intent before their records go. */
export interface PoolDiscard {
  poolId: string;
  datastoreId: string;
  templateId: string;
  /** The new size (a resize); absent for a deletion. */
  size?: number;
  files: string[];
}

/** Checks a resize, changing nothing: 400 `size` out of range, 404 `id` for an unknown pool. Answers the pool. */
export async function checkPoolResize(store: Inventory, id: string, size: number): Promise<Pool> {
  const sizeIssue = intRangeProblem(size, POOL_SIZE_RANGE);
  if (sizeIssue) throw invalidField("size", sizeIssue);
  const pool = await store.pools.get(id);
  if (!pool) throw notFound("pool", id, "id");
  return pool;
}

/** Checks a deletion, changing nothing: 404 `id` for an unknown pool. Answers the pool. */
export async function checkPoolDelete(store: Inventory, id: string): Promise<Pool> {
  const pool = await store.pools.get(id);
  if (!pool) throw notFound("pool", id, "id");
  return pool;
}

/**
 * Sets a pool's size. Shrinking discards the newest ready copies beyond it (records first,
 * then files); any size change clears the back-off so the refill loop tries again now.
 * `beforeCommit` gets the files about to be discarded before any record changes (again after
 * the commit when a copy finished meanwhile). Throws like `checkPoolResize`.
 */
export async function resizePool(ctx: OpContext, id: string, size: number, beforeCommit?: (discard: PoolDiscard) => Promise<void> | void): Promise<PoolView> {
  const pool = await checkPoolResize(ctx.store, id, size);
  const planned: PoolDiscard = { poolId: id, datastoreId: pool.datastoreId, templateId: pool.templateId, size, files: layerPaths(await copiesToDiscard(ctx.store, { ...pool, size }, { checkFiles: true })) };
  await beforeCommit?.(planned);
  const files = await ctx.store.tx(async (s) => {
    const current = await checkPoolResize(s, id, size);
    await s.pools.update(id, { size, failures: 0, retryAt: null, lastError: null });
    return await trimPool(s, { ...current, size });
  });
  const discard = await withCommitted(planned, files, beforeCommit);
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "pool-resize:after-commit");
  if (discard.files.length > 0) await removeDiscardedFiles(ctx, discard);
  return getPoolView(ctx.store, id);
}

/**
 * Deletes a pool and its ready copies (records first, then files); copies in progress are
 * dropped when they finish. `beforeCommit` gets the files about to go before any record
 * changes (again after the commit when a copy finished meanwhile). 404 for an unknown pool.
 */
export async function deletePool(ctx: OpContext, id: string, beforeCommit?: (discard: PoolDiscard) => Promise<void> | void): Promise<void> {
  const pool = await checkPoolDelete(ctx.store, id);
  const planned: PoolDiscard = { poolId: id, datastoreId: pool.datastoreId, templateId: pool.templateId, files: layerPaths(await poolCopies(ctx.store, id)) };
  await beforeCommit?.(planned);
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "pool-delete:after-intent");
  const files = await ctx.store.tx(async (s) => {
    await checkPoolDelete(s, id);
    const all = await poolCopies(s, id);
    await dropCopyRecords(s, all);
    await s.pools.delete(id);
    return layerPaths(all);
  });
  const discard = await withCommitted(planned, files, beforeCommit);
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "pool-delete:after-commit");
  await removeDiscardedFiles(ctx, discard);
  ctx.log.info({ poolId: id }, "pool deleted");
}

/**
 * Removes the files of discarded copies that no layer record names (a copy handed out to a VM
 * meanwhile was renamed away and keeps its record), the pool's folder once it is empty, and
 * rewrites the datastore's catalog. Safe to run again after a crash.
 */
export async function removeDiscardedFiles(ctx: OpContext, discard: PoolDiscard): Promise<void> {
  const unrecorded: string[] = [];
  for (const f of discard.files) if (!(await ctx.store.layers.findByPath(f))) unrecorded.push(f);
  await removeFiles(ctx, unrecorded);
  const ds = await ctx.store.datastores.get(discard.datastoreId);
  if (!ds) return;
  // Only when empty: a fill of another pool of the same template may be renaming into it.
  if (!(await ctx.store.pools.find(discard.templateId, ds.id))) await fs.rmdir(poolDir(ds.path, discard.templateId)).catch(() => undefined);
  await syncCatalog(ctx.store, ds.id);
}

/** The discard as committed: the planned one, recorded again with the files a copy finishing meanwhile added. */
async function withCommitted(planned: PoolDiscard, committed: string[], record?: (discard: PoolDiscard) => Promise<void> | void): Promise<PoolDiscard> {
  const extra = committed.filter((f) => !planned.files.includes(f));
  if (extra.length === 0) return planned;
  const discard = { ...planned, files: [...planned.files, ...extra] };
  await record?.(discard);
  return discard;
}

async function poolCopies(s: Inventory, poolId: string): Promise<CopyWithLayer[]> {
  const copies = await s.pools.listCopies(poolId);
  return Promise.all(copies.map(async (copy) => ({ copy, layer: await s.layers.get(copy.layerId) })));
}

function layerPaths(copies: readonly CopyWithLayer[]): string[] {
  return copies.flatMap((x) => (x.layer ? [x.layer.path] : []));
}

/** The pool with what it holds now; 404 for an unknown id. */
export async function getPoolView(store: Inventory, id: string, fills?: PoolFillStatus): Promise<PoolView> {
  const pool = await store.pools.get(id);
  if (!pool) throw notFound("pool", id, "id");
  return poolView(store, pool, fills);
}

/** Every pool, optionally of one template or on one datastore. */
export async function listPoolViews(store: Inventory, filter: { templateId?: string; datastoreId?: string } = {}, fills?: PoolFillStatus): Promise<PoolView[]> {
  return Promise.all((await store.pools.list(filter)).map((p) => poolView(store, p, fills)));
}

/** The current content ID of a template's disk, or null when the template or its disk record is gone. */
export async function templateContentId(store: Inventory, templateId: string): Promise<string | null> {
  const t = await store.templates.get(templateId);
  const layer = t ? await store.layers.get(t.diskLayerId) : null;
  return layer ? layer.contentId : null;
}

/** A pool copy with its disk layer (null when the record is missing). */
export interface CopyWithLayer {
  copy: PoolCopy;
  layer: DiskLayer | null;
}

/**
 * Splits a pool's copies, oldest first, into usable ones (made from `contentId`, layer ready
 * and, with `checkFiles`, file present) and stale ones to discard. Reads only.
 */
export async function sortPoolCopies(
  s: Inventory,
  pool: Pool,
  contentId: string | null,
  opts: { checkFiles: boolean },
): Promise<{ usable: { copy: PoolCopy; layer: DiskLayer }[]; stale: CopyWithLayer[] }> {
  const usable: { copy: PoolCopy; layer: DiskLayer }[] = [];
  const stale: CopyWithLayer[] = [];
  const copies = await s.pools.listCopies(pool.id);
  const layers = new Map((await s.layers.getMany(copies.map((c) => c.layerId))).map((l) => [l.id, l]));
  for (const copy of copies) {
    const layer = layers.get(copy.layerId) ?? null;
    const ok =
      layer !== null &&
      layer.state === "ready" &&
      layer.ownerKind === "pool" &&
      contentId !== null &&
      copy.templateContentId === contentId &&
      (!opts.checkFiles || existsSync(layer.path));
    if (ok) usable.push({ copy, layer });
    else stale.push({ copy, layer });
  }
  return { usable, stale };
}

/** Deletes the records of pool copies (copy row, then its layer) inside the caller's transaction. */
export async function dropCopyRecords(s: Inventory, copies: readonly CopyWithLayer[]): Promise<void> {
  for (const { copy, layer } of copies) {
    await s.pools.deleteCopy(copy.layerId);
    if (layer) await s.layers.delete(layer.id);
  }
}

/** The copies of a pool to discard now: stale ones, and the newest usable ones beyond its size; reads only. */
export async function copiesToDiscard(s: Inventory, pool: Pool, opts: { checkFiles: boolean }): Promise<CopyWithLayer[]> {
  const { usable, stale } = await sortPoolCopies(s, pool, await templateContentId(s, pool.templateId), opts);
  return [...stale, ...usable.slice(pool.size)];
}

/**
 * Inside the caller's transaction: discards stale copies and the newest usable ones beyond
 * the pool's size; returns the files to remove once the transaction committed.
 */
export async function trimPool(s: Inventory, pool: Pool): Promise<string[]> {
  const gone = await copiesToDiscard(s, pool, { checkFiles: true });
  await dropCopyRecords(s, gone);
  return gone.flatMap((x) => (x.layer ? [x.layer.path] : []));
}

/** Removes files whose records are gone; a failure is logged, since the next start removes unowned files anyway. */
export async function removeFiles(ctx: Pick<OpContext, "log">, files: readonly string[]): Promise<void> {
  await Promise.all(
    files.map((f) => fs.rm(f, { force: true }).catch((err: unknown) => ctx.log.warn({ err, file: f }, "could not remove a discarded file"))),
  );
}

/**
 * At start, for one datastore: discards pool copies whose layer is drifted or gone (their file
 * vanished); returns the discarded layer ids.
 */
export async function reconcilePools(ctx: OpContext, datastoreId: string): Promise<string[]> {
  const discarded: string[] = [];
  for (const pool of await ctx.store.pools.list({ datastoreId })) {
    await ctx.store.tx(async (s) => {
      const gone = (await poolCopies(s, pool.id)).filter((x) => !x.layer || x.layer.state !== "ready");
      await dropCopyRecords(s, gone);
      discarded.push(...gone.map((x) => x.copy.layerId));
    });
  }
  return discarded;
}

async function poolView(store: Inventory, pool: Pool, fills?: PoolFillStatus): Promise<PoolView> {
  const contentId = await templateContentId(store, pool.templateId);
  const { usable } = await sortPoolCopies(store, pool, contentId, { checkFiles: true });
  const inFlight = fills?.fillsOf(pool.id) ?? [];
  const ready = usable.length;
  const waiting = pool.retryAt !== null && Date.parse(pool.retryAt) > Date.now();
  const state: PoolState = ready >= pool.size ? "ready" : inFlight.length > 0 ? "filling" : waiting ? "waiting" : "below_size";
  return {
    ...pool,
    hostId: LOCAL_HOST_ID,
    ready,
    filling: inFlight.length,
    copies: usable.map(({ copy, layer }) => ({
      layerId: layer.id,
      path: layer.path,
      contentId: layer.contentId,
      templateContentId: copy.templateContentId,
      createdAt: copy.createdAt,
    })),
    fills: inFlight,
    templateContentId: contentId,
    state,
  };
}
