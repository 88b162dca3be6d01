/**
 * An instant-clone parent after its capture (S3): what users see of it (views, its live state),
 * changes to its settings, its deletion (refused while it has children, unless `wait`), and the
 * reconciliation of parents at engine start. Capture is in parent-capture.ts, children in
 * instant-clone.ts.
 */
import { existsSync, promises as fs, statSync } from "node:fs";
import * as path from "node:path";
import { rebase, removeOwnedTree } from "../disk";
import { conflict, internal, invalidField, notFound } from "../errors";
import { JOB_KINDS, type DiskLayer, type InstantCloneParent, type ParentRamLocation, type RecordState, type Vm } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import { throwIfCancelled, type OpContext } from "./context";
import { removeFromDatastore } from "./datastore-removal";
import { faultHold } from "./fault-hold";
import { privateFolderProblem } from "./guest-ram";
import { childOverlayOf, parentDir, parentTmpfsLevels, warmCountProblem } from "./instant-clone-plan";
import { livePid } from "./vm-power";

/** The job kind that deletes a parent (at once, or once its children are gone with `wait`). */
export const DELETE_PARENT_KIND = JOB_KINDS.deleteParent;
/** The job kind that changes a parent's settings. */
export const UPDATE_PARENT_KIND = JOB_KINDS.updateParent;

/** A change of a parent's settings; absent fields stay. */
export interface UpdateParentRequest {
  id: string;
  warmCount?: number;
}

/** A request to delete a parent; with `wait` it waits until its children are gone. */
export interface DeleteParentRequest {
  id: string;
  wait?: boolean;
}

/** A parent with what users want to see now: its frozen chain, its children and its live state. */
export interface ParentView extends InstantCloneParent {
  diskPath: string;
  /** Paths of the frozen chain, top first. */
  diskChain: string[];
  /** Ids of its instant clones that exist now. */
  childIds: string[];
  /** Bytes of the RAM file actually held on its filesystem (its pages the guest touched). */
  ramFileAllocatedBytes: number | null;
}

/** Ids of the queued and running instant-clone jobs of a parent. */
export async function pendingCloneJobs(store: Inventory, parentId: string): Promise<string[]> {
  return (await store.jobs.list({ states: ["queued", "running"] }))
    .filter((j) => j.kind === JOB_KINDS.instantClone && (j.request as { parentId?: string }).parentId === parentId)
    .map((j) => j.id);
}

/** Refuses a parent deletion that cannot be done now: unknown parent, or children without `wait`. */
export async function checkParentDelete(store: Inventory, req: DeleteParentRequest): Promise<void> {
  const parent = await store.parents.get(req.id);
  if (!parent) throw notFound("instant-clone parent", req.id, "id");
  if (req.wait) return;
  const children = await store.vms.list({ instantCloneOf: parent.id });
  const jobs = await pendingCloneJobs(store, parent.id);
  if (children.length > 0 || jobs.length > 0) {
    const named = children.map((c) => `${c.name} (${c.id})`);
    const making = jobs.length > 0 ? `; instant-clone jobs in progress: ${jobs.join(", ")}` : "";
    throw conflict(
      `instant-clone parent ${parent.name} still has ${children.length} instant clone(s): ${named.join(", ") || "none yet"}${making}; delete them first, or delete with wait=true to wait until they are gone`,
      "id",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// views

/** `drifted` when the record says so or its RAM file, device state or frozen layer is gone now. */
export async function liveParentState(store: Inventory, p: InstantCloneParent): Promise<RecordState> {
  if (p.state === "drifted") return "drifted";
  const layer = await store.layers.get(p.diskLayerId);
  // Synchronous on purpose: views are built inside route handlers without awaiting.
  const present = (f: string) => statSync(f, { throwIfNoEntry: false })?.isFile() === true;
  return layer && present(layer.path) && present(p.ramPath) && present(p.deviceStatePath) ? "ready" : "drifted";
}

async function parentView(store: Inventory, p: InstantCloneParent): Promise<ParentView> {
  const chain: string[] = [];
  let cursor: DiskLayer | null = await store.layers.get(p.diskLayerId);
  for (let depth = 0; cursor && depth < 256; depth++) {
    chain.push(cursor.path);
    const backing: string | null = cursor.backingPath;
    cursor = backing ? await store.layers.findByPath(backing) : null;
    if (!cursor && backing) chain.push(backing);
  }
  const ramStat = statSync(p.ramPath, { throwIfNoEntry: false });
  const allocated = ramStat ? ramStat.blocks * 512 : null;
  return {
    ...p,
    state: await liveParentState(store, p),
    diskPath: chain[0] ?? "",
    diskChain: chain,
    childIds: (await store.vms.list({ instantCloneOf: p.id })).map((v) => v.id),
    ramFileAllocatedBytes: allocated,
  };
}

/** The parent with this id; 404 when unknown. */
export async function getParentView(store: Inventory, id: string): Promise<ParentView> {
  const p = await store.parents.get(id);
  if (!p) throw notFound("instant-clone parent", id, "id");
  return parentView(store, p);
}

/** Refuses a settings change that cannot be done, touching nothing: 404 for an unknown parent, 400 naming a bad value. */
export async function checkParentUpdate(store: Inventory, req: UpdateParentRequest): Promise<void> {
  if (!(await store.parents.get(req.id))) throw notFound("instant-clone parent", req.id, "id");
  if (req.warmCount !== undefined) {
    const issue = warmCountProblem(req.warmCount);
    if (issue) throw invalidField("warm_count", issue);
  }
}

/**
 * The `parent.update` job: changes a parent's settings (its warm count) in one transaction,
 * after recording what it sets; throws like `checkParentUpdate`, changing nothing then. The
 * host's pre-start loop follows the new count.
 */
export async function updateParent(ctx: OpContext, req: UpdateParentRequest): Promise<ParentView> {
  await checkParentUpdate(ctx.store, req);
  if (req.warmCount !== undefined) {
    await ctx.recordIntent({ parentId: req.id, warmCount: req.warmCount });
    await ctx.store.tx(async (s) => await s.parents.update(req.id, { warmCount: req.warmCount }));
    ctx.warm?.nudge();
  }
  return getParentView(ctx.store, req.id);
}

/** After a crash during `parent.update`: the change is one transaction setting a value, so it is made again (finished); null when the parent is gone. */
export async function recoverParentUpdate(ctx: OpContext, req: UpdateParentRequest): Promise<{ finished: ParentView | null }> {
  if (!(await ctx.store.parents.get(req.id))) return { finished: null };
  return { finished: await updateParent(ctx, req) };
}

/** Every parent, by name. */
export async function listParentViews(store: Inventory): Promise<ParentView[]> {
  return Promise.all((await store.parents.list()).map((p) => parentView(store, p)));
}

// ---------------------------------------------------------------------------------------------
// deletion

/** What a parent deletion removes, recorded before the parent's record goes. */
interface DeleteParentIntent {
  parentId: string;
  datastoreId: string;
  /** The frozen top layer: its record goes with the parent's unless a VM still needs it, which then owns it. */
  topLayerId: string;
  ramPath: string;
  ramLocation: ParentRamLocation;
  deviceStatePath: string;
  childOverlay: string;
  /** The parent's folder on its datastore; null when the datastore's record was gone. */
  dir: string | null;
  /** Set just before a kept frozen layer is moved into its VM's home folder. */
  move: KeptLayerMove | null;
}

/** A kept frozen layer on its way from the parent's folder into its VM's home. */
interface KeptLayerMove {
  layerId: string;
  from: string;
  to: string;
  /** The VM's top layer, whose backing file names the frozen layer. */
  overlayLayerId: string;
}

/**
 * The `parent.delete` job: refused (409 naming them) while the parent has children, unless
 * `wait`, which waits (cancellable) until they are gone. Records what it removes, then drops
 * the parent's record in one transaction; its RAM file and device state go; its frozen layer
 * goes too unless another disk still needs it (the source VM's overlay), which then owns it.
 */
export async function deleteParent(ctx: OpContext, req: DeleteParentRequest): Promise<{ id: string; keptLayer: string | null }> {
  await checkParentDelete(ctx.store, req);
  for (;;) {
    const left = (await ctx.store.vms.list({ instantCloneOf: req.id })).length + (await pendingCloneJobs(ctx.store, req.id)).length;
    if (left === 0) break;
    ctx.progress({ unit: "steps", done: 0, total: 1, message: `waiting for ${left} instant clone(s) to be deleted` });
    throwIfCancelled(ctx);
    await new Promise((r) => setTimeout(r, 200));
  }
  const p = await ctx.store.parents.get(req.id);
  if (!p) return { id: req.id, keptLayer: null };
  const ds = await ctx.store.datastores.get(p.datastoreId);
  const intent: DeleteParentIntent = {
    parentId: p.id,
    datastoreId: p.datastoreId,
    topLayerId: p.diskLayerId,
    ramPath: p.ramPath,
    ramLocation: p.ramLocation,
    deviceStatePath: p.deviceStatePath,
    childOverlay: childOverlayOf(p),
    dir: ds ? parentDir(ds.path, p.id) : null,
    move: null,
  };
  await ctx.recordIntent(intent);
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "parent-delete:after-intent");
  const top = await ctx.store.layers.get(p.diskLayerId);
  const deleted = await ctx.store.tx(async (s) => {
    // Another deletion of it (a second request) committed first: its files are that one's to remove.
    if (!(await s.parents.get(p.id))) return false;
    if ((await s.vms.list({ instantCloneOf: p.id })).length > 0) throw conflict(`instant-clone parent ${p.name} got a new instant clone meanwhile`, "id");
    await s.parents.delete(p.id);
    if (!top) return true;
    const users = (await s.layers.list()).filter((l) => l.backingPath === top.path);
    let owner: Vm | null = null;
    for (const l of users) if (!owner && l.ownerKind === "vm") owner = await s.vms.get(l.ownerId);
    if (users.length > 0 && owner) {
      // The source VM's overlay (or whatever else is backed by it) still needs the frozen layer.
      await s.layers.transfer(top.id, { path: top.path, ownerKind: "vm", ownerId: owner.id });
    } else if (users.length > 0) {
      throw conflict(`instant-clone parent ${p.name}'s frozen layer backs disks no VM owns: ${users.map((l) => l.path).join(", ")}`, "id");
    } else {
      await s.layers.delete(top.id);
    }
    return true;
  });
  if (!deleted) return { id: p.id, keptLayer: null };
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "parent-delete:after-commit");
  // Waiting for the next warm pass would leave them running on the parent's files, in a datastore that may be deleted next.
  await ctx.warm?.release(p.id);
  const kept = await removeParentFiles(ctx, intent);
  ctx.log.info({ parentId: p.id, keptLayer: kept }, "instant-clone parent deleted");
  return { id: p.id, keptLayer: kept };
}

/**
 * After a crash during `parent.delete`: a parent still recorded was not touched (null); once
 * its record is gone, every file the intent names goes too and a kept frozen layer ends in its
 * VM's folder or stays whole in the parent's (finished).
 */
export async function recoverParentDelete(ctx: OpContext, req: DeleteParentRequest, intent: unknown): Promise<{ finished: { id: string; keptLayer: string | null } | null }> {
  const i = intent as DeleteParentIntent | null;
  if (!i || (await ctx.store.parents.get(i.parentId))) return { finished: null };
  return { finished: { id: req.id, keptLayer: await removeParentFiles(ctx, i) } };
}

/**
 * Removes what a deleted parent leaves: its RAM file (and tmpfs folder), device state and
 * child overlay, and its folder with the frozen layer when no VM kept that; a kept one moves to
 * its VM (see moveKeptLayer). Idempotent, so recovery runs it again. Answers the kept layer's path.
 */
async function removeParentFiles(ctx: OpContext, i: DeleteParentIntent): Promise<string | null> {
  await fs.rm(i.ramPath, { force: true });
  await fs.rm(i.deviceStatePath, { force: true });
  if (i.ramLocation === "tmpfs") await removeParentRamDir(ctx, path.dirname(i.ramPath));
  const layer = await ctx.store.layers.get(i.topLayerId);
  if (layer) {
    // The children's empty overlay is the parent's alone; the frozen layer stays for the VM.
    await fs.rm(i.childOverlay, { force: true });
    const owner = layer.ownerKind === "vm" ? await ctx.store.vms.get(layer.ownerId) : null;
    if (i.move) await finishKeptLayerMove(ctx, i.move);
    else if (owner) {
      await moveKeptLayer(ctx, layer, owner, (move) => ctx.recordIntent({ ...i, move } satisfies DeleteParentIntent)).catch((err: unknown) =>
        ctx.log.warn({ err, parentId: i.parentId }, "the frozen layer stays in the parent's folder"),
      );
    }
  } else if (i.dir) {
    await removeFromDatastore(ctx.store, i.dir);
  }
  if (await ctx.store.datastores.get(i.datastoreId)) await syncCatalog(ctx.store, i.datastoreId);
  return layer ? ((await ctx.store.layers.get(layer.id))?.path ?? null) : null;
}

/**
 * Moves a frozen layer the source VM still needs into that VM's home folder, so it goes with
 * the VM; only while the VM is stopped (a running QEMU has the old path open) and when the VM's
 * top layer is the only disk on it (one header to rewrite). `record` persists the move first.
 */
async function moveKeptLayer(ctx: OpContext, layer: DiskLayer, owner: Vm, record: (move: KeptLayerMove) => Promise<void> | void): Promise<void> {
  const users = (await ctx.store.layers.list()).filter((l) => l.backingPath === layer.path);
  if (livePid(owner.stateDir) !== null || users.length !== 1 || users[0].id !== owner.diskLayerId) return;
  const move: KeptLayerMove = { layerId: layer.id, from: layer.path, to: path.join(owner.homeDir, `disk-${layer.contentId.slice(0, 12)}.qcow2`), overlayLayerId: users[0].id };
  await record(move);
  await fs.rename(move.from, move.to);
  try {
    await rebase(users[0].path, { backingPath: move.to, unsafe: true });
  } catch (err) {
    await fs.rename(move.to, move.from);
    throw err;
  }
  await ctx.store.tx(async (s) => {
    await s.layers.transfer(layer.id, { path: move.to, ownerKind: "vm", ownerId: owner.id });
    await s.layers.update(users[0].id, { backingPath: move.to });
  });
  await removeFromDatastore(ctx.store, path.dirname(move.from));
}

/**
 * Finishes a kept layer's move a crash cut short: a file not yet renamed stays where the
 * records say (the parent's folder, as when the VM was running); a renamed one gets its
 * overlay's header and the records pointed at it (an unsafe rebase only rewrites the header).
 */
async function finishKeptLayerMove(ctx: OpContext, m: KeptLayerMove): Promise<void> {
  const layer = await ctx.store.layers.get(m.layerId);
  const overlay = await ctx.store.layers.get(m.overlayLayerId);
  if (layer && layer.path === m.from && existsSync(m.to) && !existsSync(m.from)) {
    if (overlay) await rebase(overlay.path, { backingPath: m.to, unsafe: true });
    await ctx.store.tx(async (s) => {
      await s.layers.transfer(m.layerId, { path: m.to, ownerKind: layer.ownerKind, ownerId: layer.ownerId });
      if (overlay) await s.layers.update(overlay.id, { backingPath: m.to });
    });
  }
  if ((await ctx.store.layers.get(m.layerId))?.path === m.to) await removeFromDatastore(ctx.store, path.dirname(m.from));
}

/** Removes a parent's RAM folder after proving it lies inside this engine's tmpfs folder; throws internal otherwise. */
export async function removeParentRamDir(ctx: OpContext, dir: string): Promise<void> {
  try {
    if (!ctx.settings.parentTmpfsDir) throw new Error("the engine has no tmpfs folder configured");
    await removeOwnedTree(ctx.settings.parentTmpfsDir, dir);
  } catch (err) {
    throw internal(`removing the RAM folder ${dir}`, err);
  }
}

// ---------------------------------------------------------------------------------------------
// reconciliation

/** What the parents' reconciliation at start found. */
export interface ParentReconcileReport {
  driftedParents: string[];
  /** Folders on the tmpfs no parent owns; removed. */
  removedRamDirs: string[];
}

/**
 * At engine start, after interrupted jobs were recovered: marks parents whose RAM file,
 * device state or frozen layer vanished as drifted, and removes folders in this engine's
 * tmpfs folder that no parent owns.
 */
export async function reconcileParents(ctx: OpContext): Promise<ParentReconcileReport> {
  const report: ParentReconcileReport = { driftedParents: [], removedRamDirs: [] };
  for (const p of await ctx.store.parents.list()) {
    if (p.state !== "drifted" && (await liveParentState(ctx.store, p)) === "drifted") {
      await ctx.store.tx(async (s) => await s.parents.update(p.id, { state: "drifted" }));
      report.driftedParents.push(p.id);
      ctx.log.warn({ parentId: p.id }, "an instant-clone parent's files vanished; marked drifted");
    }
  }
  const root = ctx.settings.parentTmpfsDir;
  const refused = root ? await firstUnsafeLevel(parentTmpfsLevels(root)) : null;
  if (refused) ctx.log.warn({ dir: refused }, "the tmpfs folder of instant-clone parents is not this engine's own private folder; not swept (remove it, as parents cannot be captured there)");
  else if (root) {
    const owned = new Set((await ctx.store.parents.list()).map((p) => path.dirname(p.ramPath)));
    for (const name of await fs.readdir(root).catch(() => [] as string[])) {
      const dir = path.join(root, name);
      if (owned.has(dir)) continue;
      try {
        await removeOwnedTree(root, dir);
        report.removedRamDirs.push(dir);
      } catch (err) {
        ctx.log.warn({ err, dir }, "not removing a tmpfs entry that leads outside the parents' folder");
      }
    }
  }
  return report;
}

/** The first of `levels` that exists and is not this process's own private folder, or null. */
async function firstUnsafeLevel(levels: readonly string[]): Promise<string | null> {
  for (const level of levels) {
    const problem = await privateFolderProblem(level).catch(() => null);
    if (problem) return level;
  }
  return null;
}

/** Paths under datastores that parents own (frozen layers are DiskLayer records already). */
export async function parentOwnedPaths(store: Inventory): Promise<string[]> {
  return (await store.parents.list()).flatMap((p) => [p.ramPath, p.deviceStatePath, childOverlayOf(p)]);
}
