/**
 * An instant-clone parent after its capture (S3): what users see of it (views, its live state),
 * changes to its settings, its deletion (refused while it has children, unless `wait`), and the
 * reconciliation of parents at engine start. Capture is in parent-capture.ts, children in
 * instant-clone.ts.
 */
import { promises as fs, statSync } from "node:fs";
import * as path from "node:path";
import { rebase, removeOwnedTree } from "../disk";
import { conflict, internal, invalidField, notFound } from "../errors";
import { JOB_KINDS, type DiskLayer, type InstantCloneParent, type RecordState, type Vm } from "../model";
import type { Store } from "../store";
import { syncCatalog } from "./catalog-sync";
import { throwIfCancelled, type OpContext } from "./context";
import { removeFromDatastore } from "./datastore-removal";
import { privateFolderProblem } from "./guest-ram";
import { childOverlayOf, parentDir, parentTmpfsLevels, warmCountProblem } from "./instant-clone-plan";
import { livePid } from "./vm-power";

/** The job kind that deletes a parent once its children are gone (`wait`). */
export const DELETE_PARENT_KIND = JOB_KINDS.deleteParent;

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
export function pendingCloneJobs(store: Store, parentId: string): string[] {
  return store
    .listJobs({ states: ["queued", "running"] })
    .filter((j) => j.kind === JOB_KINDS.instantClone && (j.request as { parentId?: string }).parentId === parentId)
    .map((j) => j.id);
}


/** Refuses a parent deletion that cannot be done now: unknown parent, or children without `wait`. */
export function checkParentDelete(store: Store, req: DeleteParentRequest): void {
  const parent = store.getParent(req.id);
  if (!parent) throw notFound("instant-clone parent", req.id, "id");
  if (req.wait) return;
  const children = store.listVms({ instantCloneOf: parent.id });
  const jobs = pendingCloneJobs(store, parent.id);
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
export function liveParentState(store: Store, p: InstantCloneParent): RecordState {
  if (p.state === "drifted") return "drifted";
  const layer = store.getLayer(p.diskLayerId);
  // Synchronous on purpose: views are built inside route handlers without awaiting.
  const present = (f: string) => statSync(f, { throwIfNoEntry: false })?.isFile() === true;
  return layer && present(layer.path) && present(p.ramPath) && present(p.deviceStatePath) ? "ready" : "drifted";
}

function parentView(store: Store, p: InstantCloneParent): ParentView {
  const chain: string[] = [];
  let cursor: DiskLayer | null = store.getLayer(p.diskLayerId);
  for (let depth = 0; cursor && depth < 256; depth++) {
    chain.push(cursor.path);
    const backing: string | null = cursor.backingPath;
    cursor = backing ? store.findLayerByPath(backing) : null;
    if (!cursor && backing) chain.push(backing);
  }
  const ramStat = statSync(p.ramPath, { throwIfNoEntry: false });
  const allocated = ramStat ? ramStat.blocks * 512 : null;
  return {
    ...p,
    state: liveParentState(store, p),
    diskPath: chain[0] ?? "",
    diskChain: chain,
    childIds: store.listVms({ instantCloneOf: p.id }).map((v) => v.id),
    ramFileAllocatedBytes: allocated,
  };
}

/** The parent with this id; 404 when unknown. */
export function getParentView(store: Store, id: string): ParentView {
  const p = store.getParent(id);
  if (!p) throw notFound("instant-clone parent", id, "id");
  return parentView(store, p);
}

/**
 * Changes a parent's settings (its warm count); 404 for an unknown parent, 400 naming a bad
 * value; changes nothing then. The host's pre-start loop follows the new count.
 */
export function updateParent(ctx: OpContext, req: UpdateParentRequest): ParentView {
  const p = ctx.store.getParent(req.id);
  if (!p) throw notFound("instant-clone parent", req.id, "id");
  if (req.warmCount !== undefined) {
    const issue = warmCountProblem(req.warmCount);
    if (issue) throw invalidField("warm_count", issue);
    ctx.store.tx((s) => s.updateParent(p.id, { warmCount: req.warmCount }));
    ctx.warm?.nudge();
  }
  return getParentView(ctx.store, p.id);
}

/** Every parent, by name. */
export function listParentViews(store: Store): ParentView[] {
  return store.listParents().map((p) => parentView(store, p));
}

// ---------------------------------------------------------------------------------------------
// deletion

/**
 * Deletes a parent: refused (409 naming them) while it has children, unless `wait`, which
 * waits (cancellable) until they are gone. Its RAM file and device state go; its frozen layer
 * goes too unless another disk still needs it (the source VM's overlay), which then owns it.
 */
export async function deleteParent(ctx: OpContext, req: DeleteParentRequest): Promise<{ id: string; keptLayer: string | null }> {
  checkParentDelete(ctx.store, req);
  for (;;) {
    const left = ctx.store.listVms({ instantCloneOf: req.id }).length + pendingCloneJobs(ctx.store, req.id).length;
    if (left === 0) break;
    ctx.progress({ unit: "steps", done: 0, total: 1, message: `waiting for ${left} instant clone(s) to be deleted` });
    throwIfCancelled(ctx);
    await new Promise((r) => setTimeout(r, 200));
  }
  const p = ctx.store.getParent(req.id);
  if (!p) return { id: req.id, keptLayer: null };
  const top = ctx.store.getLayer(p.diskLayerId);
  let kept: { layer: DiskLayer; owner: Vm } | null = null;
  ctx.store.tx((s) => {
    if (s.listVms({ instantCloneOf: p.id }).length > 0) throw conflict(`instant-clone parent ${p.name} got a new instant clone meanwhile`, "id");
    s.deleteParent(p.id);
    if (!top) return;
    const users = s.listLayers().filter((l) => l.backingPath === top.path);
    const owner = users.map((l) => (l.ownerKind === "vm" ? s.getVm(l.ownerId) : null)).find((v): v is Vm => v !== null);
    if (users.length > 0 && owner) {
      // The source VM's overlay (or whatever else is backed by it) still needs the frozen layer.
      s.transferLayer(top.id, { path: top.path, ownerKind: "vm", ownerId: owner.id });
      kept = { layer: top, owner };
    } else if (users.length > 0) {
      throw conflict(`instant-clone parent ${p.name}'s frozen layer backs disks no VM owns: ${users.map((l) => l.path).join(", ")}`, "id");
    } else {
      s.deleteLayer(top.id);
    }
  });
  // Waiting for the next warm pass would leave them running on the parent's files, in a datastore that may be deleted next.
  await ctx.warm?.release(p.id);
  const ds = ctx.store.getDatastore(p.datastoreId);
  await fs.rm(p.ramPath, { force: true });
  await fs.rm(p.deviceStatePath, { force: true });
  if (p.ramLocation === "tmpfs") await removeParentRamDir(ctx, path.dirname(p.ramPath));
  const keptLayer = kept as { layer: DiskLayer; owner: Vm } | null;
  if (keptLayer) {
    // The children's empty overlay is the parent's alone; the frozen layer stays for the VM.
    await fs.rm(childOverlayOf(p), { force: true });
    await moveKeptLayer(ctx, keptLayer.layer, keptLayer.owner).catch((err: unknown) => ctx.log.warn({ err, parentId: p.id }, "the frozen layer stays in the parent's folder"));
  } else if (ds) {
    await removeFromDatastore(ctx.store, parentDir(ds.path, p.id));
  }
  if (ds) await syncCatalog(ctx.store, ds.id);
  ctx.log.info({ parentId: p.id, keptLayer: keptLayer?.layer.path ?? null }, "instant-clone parent deleted");
  return { id: p.id, keptLayer: keptLayer ? (ctx.store.getLayer(keptLayer.layer.id)?.path ?? null) : null };
}

/**
 * Moves a frozen layer the source VM still needs into that VM's home folder, so it goes with
 * the VM; only while the VM is stopped (a running QEMU has the old path open) and when the VM's
 * top layer is the only disk on it (one header to rewrite).
 */
async function moveKeptLayer(ctx: OpContext, layer: DiskLayer, owner: Vm): Promise<void> {
  const users = ctx.store.listLayers().filter((l) => l.backingPath === layer.path);
  if (livePid(owner.stateDir) !== null || users.length !== 1 || users[0].id !== owner.diskLayerId) return;
  const dest = path.join(owner.homeDir, `disk-${layer.contentId.slice(0, 12)}.qcow2`);
  await fs.rename(layer.path, dest);
  try {
    await rebase(users[0].path, { backingPath: dest, unsafe: true });
  } catch (err) {
    await fs.rename(dest, layer.path);
    throw err;
  }
  ctx.store.tx((s) => {
    s.transferLayer(layer.id, { path: dest, ownerKind: "vm", ownerId: owner.id });
    s.updateLayer(users[0].id, { backingPath: dest });
  });
  await removeFromDatastore(ctx.store, path.dirname(layer.path));
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
  for (const p of ctx.store.listParents()) {
    if (p.state !== "drifted" && liveParentState(ctx.store, p) === "drifted") {
      ctx.store.tx((s) => s.updateParent(p.id, { state: "drifted" }));
      report.driftedParents.push(p.id);
      ctx.log.warn({ parentId: p.id }, "an instant-clone parent's files vanished; marked drifted");
    }
  }
  const root = ctx.settings.parentTmpfsDir;
  const refused = root ? await firstUnsafeLevel(parentTmpfsLevels(root)) : null;
  if (refused) ctx.log.warn({ dir: refused }, "the tmpfs folder of instant-clone parents is not this engine's own private folder; not swept (remove it, as parents cannot be captured there)");
  else if (root) {
    const owned = new Set(ctx.store.listParents().map((p) => path.dirname(p.ramPath)));
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
export function parentOwnedPaths(store: Store): string[] {
  return store.listParents().flatMap((p) => [p.ramPath, p.deviceStatePath, childOverlayOf(p)]);
}
