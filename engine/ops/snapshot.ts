/**
 * Snapshots, consolidation and backup (S4). A snapshot freezes the VM's top layer and moves
 * the VM onto a new overlay (QMP `blockdev-snapshot-sync` while it runs, `qemu-img create -b`
 * while it is stopped). Deleting a snapshot consolidates: the layer right above the frozen
 * one is committed into it (see snapshot-plan.ts); live, that is QMP `block-commit`, an active
 * commit (QEMU runs it as a mirror) pivoted with `job-complete` when the newest snapshot goes.
 * A backup is snapshot → flattened copy of the frozen chain → consolidation, in one job.
 */
import { promises as fs, existsSync, lstatSync, realpathSync } from "node:fs";
import * as path from "node:path";
import { commit, convert, createOverlay, engineDir, imageInfoChain, isInside, newContentId, rebase, tmpDir } from "../disk";
import { cancelled, conflict, internal, invalidField, isEngineError, noSpace, notFound } from "../errors";
import { QemuProcess, anyNodeOnFile, liveDiskChain, nodeOfFile, type QmpClient } from "../hypervisor";
import { absolutePathProblem, JOB_KINDS, nameProblem, newId, nowIso, pathIsWithin, type DiskLayer, type Snapshot, type Vm } from "../model";
import type { Store } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { EngineSettings, OpContext } from "./context";
import { isNoSpaceError } from "./provision";
import { chainAfter, overlayFileName, planConsolidation, type ConsolidationPlan, type PlanLayer } from "./snapshot-plan";
import { diskLayersOf, livePid, withVmLock } from "./vm-power";

export const CREATE_SNAPSHOT_KIND = JOB_KINDS.createSnapshot;
export const DELETE_SNAPSHOT_KIND = JOB_KINDS.deleteSnapshot;
export const BACKUP_VM_KIND = JOB_KINDS.backupVm;

/** Longest a live commit may take to reach READY (or finish) before the job gives up and cancels it. */
const COMMIT_TIMEOUT_MS = 30 * 60_000;
/** A speed-capped commit runs uncapped once this little is left, so it converges under guest writes. */
const CONVERGE_UNCAPPED_BYTES = 4 * 1024 * 1024;
/** How often a running block job's progress is read. */
const PROGRESS_POLL_MS = 25;

/** A request to snapshot a VM. */
export interface CreateSnapshotRequest {
  vmId: string;
  name: string;
}

/** A request to delete (consolidate) a snapshot. */
export interface DeleteSnapshotRequest {
  id: string;
  /** Caps the live block job's speed (bytes/s); unlimited when absent. */
  speedBytesPerSec?: number;
}

/** A request to back a VM up into a file. */
export interface BackupVmRequest {
  vmId: string;
  /** Absolute path of the file to write; must not exist and must lie outside every datastore's engine folder. */
  targetPath: string;
  format: "qcow2" | "raw";
  speedBytesPerSec?: number;
}

/** A snapshot as users see it. */
export interface SnapshotView extends Snapshot {
  /** The frozen layer: a point-in-time disk a backup agent may read (with its backing chain). */
  frozenDiskPath: string;
  contentId: string | null;
  /** Layers of the frozen point-in-time chain, top first. */
  frozenChain: string[];
}

/** What a consolidation did and measured. */
export interface DeleteSnapshotResult {
  id: string;
  vmId: string;
  /** `live-active-commit` (mirror + pivot), `live-commit` (middle layer, no pivot) or `offline-commit`. */
  method: "live-active-commit" | "live-commit" | "offline-commit";
  /** The layer that was merged and removed. */
  removedPath: string;
  /** The layer that took its role. */
  basePath: string;
  bytes: number;
  durationMs: number;
  /** From `job-complete` sent to BLOCK_JOB_COMPLETED (the pivot), ms; null without a pivot. */
  pivotMs: number | null;
  /** True when QEMU reported a STOP event or a non-running status during the job. */
  guestPaused: boolean;
  chainDepth: number;
}

/** What a backup made. */
export interface BackupVmResult {
  vmId: string;
  targetPath: string;
  format: "qcow2" | "raw";
  sizeBytes: number;
  snapshotMs: number;
  copyMs: number;
  consolidation: DeleteSnapshotResult;
}

interface CreateIntent {
  op: "create";
  vmId: string;
  snapshotId: string;
  name: string;
  frozenLayerId: string;
  newLayerId: string;
  newPath: string;
  live: boolean;
}

interface DeleteIntent {
  op: "delete";
  vmId: string;
  snapshotId: string;
  plan: ConsolidationPlan;
  live: boolean;
  jobId: string;
  /** Set once the commit may have started writing into the base layer. */
  started?: boolean;
}

interface BackupIntent {
  op: "backup";
  vmId: string;
  targetPath: string;
  partPath: string;
  create?: CreateIntent;
  del?: DeleteIntent;
}

// ---------------------------------------------------------------------------------------------
// views and checks

/** The snapshot with this id; 404 when unknown. */
export function getSnapshotView(store: Store, id: string): SnapshotView {
  const snap = store.getSnapshot(id);
  if (!snap) throw notFound("snapshot", id, "id");
  return snapshotView(store, snap);
}

/** The snapshots of a VM, oldest first; 404 for an unknown VM. */
export function listSnapshotViews(store: Store, vmId: string): SnapshotView[] {
  if (!store.getVm(vmId)) throw notFound("vm", vmId, "id");
  return store.listSnapshots({ vmId }).map((s) => snapshotView(store, s));
}

function snapshotView(store: Store, snap: Snapshot): SnapshotView {
  const layer = store.getLayer(snap.layerId);
  const chain: string[] = [];
  let cursor: DiskLayer | null = layer;
  for (let depth = 0; cursor && depth < 256; depth++) {
    chain.push(cursor.path);
    cursor = cursor.backingPath ? store.findLayerByPath(cursor.backingPath) : null;
  }
  const state = snap.state === "ready" && layer && existsSync(layer.path) ? "ready" : "drifted";
  return { ...snap, state, frozenDiskPath: layer?.path ?? "", contentId: layer?.contentId ?? null, frozenChain: chain };
}

/** Refuses a snapshot request that cannot be done, touching nothing (404/400/409 naming the field). */
export function checkSnapshotCreate(store: Store, req: CreateSnapshotRequest): void {
  const vm = store.getVm(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "id");
  const issue = nameProblem(req.name);
  if (issue) throw invalidField("name", issue);
  admitSnapshotCreate(store, req);
}

/** Refuses a name the VM's snapshots have or a queued or running snapshot job will take (runs in the job's transaction). */
export function admitSnapshotCreate(store: Store, req: CreateSnapshotRequest): void {
  if (!store.getVm(req.vmId)) throw conflict(`VM ${req.vmId} was removed`, "id");
  if (store.listSnapshots({ vmId: req.vmId }).some((s) => s.name === req.name)) throw conflict(`VM ${req.vmId} already has a snapshot named ${JSON.stringify(req.name)}`, "name");
  const pending = store
    .listJobs({ states: ["queued", "running"] })
    .find((j) => j.kind === CREATE_SNAPSHOT_KIND && (j.request as CreateSnapshotRequest).vmId === req.vmId && (j.request as CreateSnapshotRequest).name === req.name);
  if (pending) throw conflict(`snapshot ${JSON.stringify(req.name)} is being taken by job ${pending.id}`, "name");
}

/** Refuses deleting an unknown snapshot or one another job is deleting already. */
export function admitSnapshotDelete(store: Store, req: DeleteSnapshotRequest): void {
  if (!store.getSnapshot(req.id)) throw notFound("snapshot", req.id, "id");
  if (req.speedBytesPerSec !== undefined && (!Number.isInteger(req.speedBytesPerSec) || req.speedBytesPerSec < 0)) throw invalidField("speed_bytes_per_sec", "must be a whole number ≥ 0");
  const pending = store.listJobs({ states: ["queued", "running"] }).find((j) => j.kind === DELETE_SNAPSHOT_KIND && (j.request as DeleteSnapshotRequest).id === req.id);
  if (pending) throw conflict(`snapshot ${req.id} is being deleted by job ${pending.id}`, "id");
}

/** Refuses a backup that cannot be done: unknown VM, bad format, a target that is relative, exists, has no folder or lies in a datastore's engine folder. */
export function checkBackupRequest(store: Store, req: BackupVmRequest): void {
  if (!store.getVm(req.vmId)) throw notFound("vm", req.vmId, "id");
  if (req.format !== "qcow2" && req.format !== "raw") throw invalidField("format", "must be qcow2 or raw");
  const t = req.targetPath;
  const pathIssue = absolutePathProblem(t);
  if (pathIssue) throw invalidField("target_path", pathIssue);
  if (path.normalize(t) !== t || t.endsWith("/")) throw invalidField("target_path", "must be an absolute, normalised file path");
  if (existsSync(t)) throw conflict(`target_path: ${t} exists already`, "target_path");
  if (!existsSync(path.dirname(t))) throw invalidField("target_path", `the folder ${path.dirname(t)} does not exist`);
  for (const ds of store.listDatastores()) {
    if (isInside(engineDir(ds.path), t) || t === engineDir(ds.path)) throw invalidField("target_path", `must not lie in datastore ${ds.name}'s engine folder`);
  }
  if (req.speedBytesPerSec !== undefined && (!Number.isInteger(req.speedBytesPerSec) || req.speedBytesPerSec < 0)) throw invalidField("speed_bytes_per_sec", "must be a whole number ≥ 0");
  const pending = store.listJobs({ states: ["queued", "running"] }).find((j) => j.kind === BACKUP_VM_KIND && (j.request as BackupVmRequest).targetPath === t);
  if (pending) throw conflict(`target_path: job ${pending.id} writes ${t} already`, "target_path");
}

/**
 * Refuses a backup target outside the folders backups may go to: a datastore's folder (not its
 * engine folder) or a backup folder the engine was started with (`--backup-dir`). The target's
 * folder is resolved first, so a symlinked folder inside a datastore that points elsewhere
 * (say at /etc) is refused too. The engine writes guest-controlled bytes there as root.
 */
export function checkBackupTarget(store: Store, settings: EngineSettings, targetPath: string): void {
  const folder = path.dirname(targetPath);
  let realFolder: string;
  try {
    realFolder = realpathSync(folder);
  } catch (err) {
    throw invalidField("target_path", `the folder ${folder} cannot be used: ${(err as Error).message}`);
  }
  const real = path.join(realFolder, path.basename(targetPath));
  if (lstatSync(targetPath, { throwIfNoEntry: false })) throw conflict(`target_path: ${targetPath} exists already`, "target_path");
  const stateDir = settings.stateDir ? realOrSelf(settings.stateDir) : null;
  if (stateDir && pathIsWithin(stateDir, real)) throw invalidField("target_path", `${real} lies in the engine's state folder`);
  const datastores = store.listDatastores().map((ds) => ({ name: ds.name, root: realOrSelf(ds.path) }));
  const inEngineFolder = datastores.find((ds) => pathIsWithin(engineDir(ds.root), real));
  if (inEngineFolder) throw invalidField("target_path", `must not lie in datastore ${inEngineFolder.name}'s engine folder`);
  const roots = [...datastores.map((ds) => ds.root), ...(settings.backupDirs ?? [])];
  if (!roots.some((root) => pathIsWithin(root, real) && real !== root)) {
    throw invalidField("target_path", `${real} lies outside every datastore's folder and backup folder (engine option --backup-dir); backups are written only there`);
  }
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

// ---------------------------------------------------------------------------------------------
// QMP helpers

function isRunning(vm: Vm): boolean {
  return vm.powerState === "running" && livePid(vm.stateDir) !== null;
}

/** The disk device's chain as QEMU has it open: the top node and the files, top first. */
async function liveChain(qmp: QmpClient): Promise<{ node: string; files: string[] }> {
  const layers = await liveDiskChain(qmp);
  return { node: layers[0].node, files: layers.map((l) => l.file) };
}

/** Frees nodes a commit dropped from the chain that the monitor still holds (those from -blockdev); the others are gone already. */
async function dropStaleNode(qmp: QmpClient, node: string): Promise<void> {
  await qmp.execute("blockdev-del", { "node-name": node }).catch(() => undefined);
  await qmp.execute("blockdev-del", { "node-name": `${node}-file` }).catch(() => undefined);
}

async function withQemu<T>(vm: Vm, fn: (qmp: QmpClient) => Promise<T>): Promise<T> {
  const proc = await QemuProcess.reattach(vm.stateDir!, { timeoutMs: 5000 });
  try {
    return await fn(proc.qmp);
  } finally {
    await proc.detach().catch(() => undefined);
  }
}

async function faultHold(ctx: OpContext, step: string): Promise<void> {
  // Fault injection for the crash tests: park the op at a named step until the engine dies.
  if (process.env.CLONEFLEET_FAULT_SNAPSHOT_HOLD !== step) return;
  ctx.progress({ message: `fault hold: ${step}` });
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
}

// ---------------------------------------------------------------------------------------------
// create

/**
 * Takes snapshot `name` of VM `vmId`: its top layer is frozen (owned by the snapshot from now
 * on) and the VM continues on a new overlay with a new content ID. A running VM is not paused.
 * Throws 404/409 EngineErrors for a bad request, 500 naming the failed step otherwise.
 */
export async function createSnapshot(ctx: OpContext, req: CreateSnapshotRequest): Promise<SnapshotView> {
  return withVmLock(req.vmId, () => createLocked(ctx, req, (i) => ctx.recordIntent(i)));
}

async function createLocked(ctx: OpContext, req: CreateSnapshotRequest, record: (i: CreateIntent) => void): Promise<SnapshotView> {
  const vm = ctx.store.getVm(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "id");
  if (ctx.store.listSnapshots({ vmId: vm.id }).some((s) => s.name === req.name)) throw conflict(`VM ${vm.name} already has a snapshot named ${JSON.stringify(req.name)}`, "name");
  const top = ctx.store.getLayer(vm.diskLayerId);
  if (!top || !existsSync(top.path)) throw conflict(`VM ${vm.name}'s disk is missing; it cannot be snapshotted`, "id");
  const ds = ctx.store.getDatastore(top.datastoreId);
  if (!ds) throw conflict(`VM ${vm.name}'s datastore is gone`, "id");
  const tag = newContentId().slice(0, 12);
  const live = isRunning(vm);
  const intent: CreateIntent = {
    op: "create",
    vmId: vm.id,
    snapshotId: newId("snap"),
    name: req.name,
    frozenLayerId: top.id,
    newLayerId: newId("layer"),
    newPath: path.join(vm.homeDir, overlayFileName(tag)),
    live,
  };
  record(intent);
  ctx.progress({ unit: "steps", done: 0, total: 2, message: live ? "freezing the running disk" : "creating an overlay" });
  try {
    if (live) {
      // The engine writes the overlay's header itself: QEMU would write the node's filename as
      // the backing path, which is `json:{…}` for a layer whose header names its backing relatively.
      await createOverlay(intent.newPath, { backingPath: top.path, sizeBytes: top.virtualSizeBytes, signal: ctx.signal });
      await withQemu(vm, async (qmp) => {
        const node = await nodeOfFile(qmp, top.path);
        await qmp.execute("blockdev-snapshot-sync", {
          "node-name": node,
          "snapshot-file": intent.newPath,
          "snapshot-node-name": `snap-${tag}`,
          format: "qcow2",
          mode: "existing",
        });
      });
    } else {
      const part = path.join(tmpDir(ds.path), `${intent.newLayerId}.qcow2`);
      await fs.mkdir(tmpDir(ds.path), { recursive: true });
      await createOverlay(part, { backingPath: top.path, sizeBytes: top.virtualSizeBytes, signal: ctx.signal });
      await fs.rename(part, intent.newPath);
    }
    await faultHold(ctx, "snapshot-after-overlay");
    commitCreate(ctx.store, vm, top, intent);
  } catch (err) {
    if (!ctx.store.getSnapshot(intent.snapshotId)) await fs.rm(intent.newPath, { force: true }).catch(() => undefined);
    await fs.rm(path.join(tmpDir(ds.path), `${intent.newLayerId}.qcow2`), { force: true }).catch(() => undefined);
    if (isEngineError(err)) throw err;
    if (isNoSpaceError(err)) throw noSpace(`snapshotting VM ${vm.name}`, err);
    throw internal(`snapshotting VM ${vm.name}`, err);
  }
  await syncCatalog(ctx.store, ds.id);
  ctx.progress({ done: 2, message: "snapshot taken" });
  ctx.log.info({ vmId: vm.id, snapshotId: intent.snapshotId, live }, "snapshot taken");
  return getSnapshotView(ctx.store, intent.snapshotId);
}

function commitCreate(store: Store, vm: Vm, top: DiskLayer, i: CreateIntent): void {
  store.tx((s) => {
    s.insertLayer({
      id: i.newLayerId,
      datastoreId: top.datastoreId,
      path: i.newPath,
      format: "qcow2",
      virtualSizeBytes: top.virtualSizeBytes,
      contentId: newContentId(),
      parentContentId: top.contentId,
      backingPath: top.path,
      ownerKind: "vm",
      ownerId: vm.id,
      state: "ready",
      createdAt: nowIso(),
    });
    s.transferLayer(top.id, { path: top.path, ownerKind: "snapshot", ownerId: i.snapshotId });
    s.insertSnapshot({ id: i.snapshotId, vmId: vm.id, name: i.name, layerId: top.id, state: "ready", createdAt: nowIso() });
    s.updateVm(vm.id, { diskLayerId: i.newLayerId });
  });
}

/** After a crash during a snapshot: recorded → finished; the VM's QEMU already on the new overlay → recorded now; otherwise the overlay is removed. */
export async function recoverSnapshotCreate(ctx: OpContext, intent: unknown): Promise<{ finished: SnapshotView | null }> {
  const i = intent as CreateIntent | null;
  if (!i) return { finished: null };
  if (ctx.store.getSnapshot(i.snapshotId)) return { finished: getSnapshotView(ctx.store, i.snapshotId) };
  const vm = ctx.store.getVm(i.vmId);
  const top = ctx.store.getLayer(i.frozenLayerId);
  if (vm && top && vm.diskLayerId === top.id && existsSync(i.newPath)) {
    let onNew = false;
    if (isRunning(vm)) onNew = (await withQemu(vm, liveChain)).files[0] === i.newPath;
    else if (!i.live) onNew = true; // the overlay was renamed into place complete; only the records are missing
    if (onNew) {
      commitCreate(ctx.store, vm, top, i);
      await syncCatalog(ctx.store, top.datastoreId);
      return { finished: getSnapshotView(ctx.store, i.snapshotId) };
    }
  }
  if (!ctx.store.findLayerByPath(i.newPath)) await fs.rm(i.newPath, { force: true });
  return { finished: null };
}

// ---------------------------------------------------------------------------------------------
// delete (consolidation)

function planFor(store: Store, vm: Vm, snapshotId: string): { plan: ConsolidationPlan; layers: DiskLayer[] } {
  const layers = diskLayersOf(store, vm);
  const owners = new Map(store.listSnapshots({ vmId: vm.id }).map((s) => [s.layerId, s.id]));
  const chain: PlanLayer[] = layers.map((l) => ({ id: l.id, path: l.path, snapshotId: owners.get(l.id) ?? null }));
  let plan: ConsolidationPlan;
  try {
    plan = planConsolidation(chain, snapshotId);
  } catch (err) {
    throw conflict(`VM ${vm.name}: ${(err as Error).message}`, "id");
  }
  // Another disk (a fork's child, say) resting on either layer would see its data change.
  const outside = store.listLayers().filter((l) => (l.backingPath === plan.base.path && l.id !== plan.top.id) || (l.backingPath === plan.top.path && l.id !== plan.above?.id));
  if (outside.length > 0) throw conflict(`snapshot ${snapshotId}: other disks rest on its layers: ${outside.map((l) => l.path).join(", ")}`, "id");
  return { plan, layers };
}

/**
 * Deletes a snapshot by consolidating its chain (see the file comment). Progress is reported
 * in bytes of the block job; cancelling stops the commit and leaves the VM running on a
 * consistent chain (the snapshot stays, marked drifted when its layer was already written).
 * Throws 404/409 for a bad request, CF_CANCELLED, or 500 naming the failed step.
 */
export async function deleteSnapshot(ctx: OpContext, req: DeleteSnapshotRequest): Promise<DeleteSnapshotResult> {
  const snap = ctx.store.getSnapshot(req.id);
  if (!snap) throw notFound("snapshot", req.id, "id");
  return withVmLock(snap.vmId, () => deleteLocked(ctx, req, (i) => ctx.recordIntent(i)));
}

async function deleteLocked(ctx: OpContext, req: DeleteSnapshotRequest, record: (i: DeleteIntent) => void): Promise<DeleteSnapshotResult> {
  const snap = ctx.store.getSnapshot(req.id);
  if (!snap) throw notFound("snapshot", req.id, "id");
  const vm = ctx.store.getVm(snap.vmId);
  if (!vm) throw conflict(`snapshot ${snap.id}'s VM is gone`, "id");
  const { plan, layers } = planFor(ctx.store, vm, snap.id);
  const live = isRunning(vm);
  const intent: DeleteIntent = { op: "delete", vmId: vm.id, snapshotId: snap.id, plan, live, jobId: `cf-commit-${newContentId().slice(0, 12)}` };
  record(intent);
  const t0 = performance.now();
  let bytes = 0;
  let pivotMs: number | null = null;
  let guestPaused = false;
  const method: DeleteSnapshotResult["method"] = live ? (plan.active ? "live-active-commit" : "live-commit") : "offline-commit";
  try {
    if (live) {
      ({ bytes, pivotMs, guestPaused } = await liveCommit(ctx, vm, plan, intent, req.speedBytesPerSec, record));
    } else {
      intent.started = true;
      record(intent);
      ctx.progress({ unit: "steps", done: 0, total: 2, message: "committing offline" });
      await offlineCommit(plan, ctx.signal);
      bytes = (await fs.stat(plan.top.path)).size;
    }
    await faultHold(ctx, "delete-before-records");
    commitDelete(ctx.store, vm, plan, snap.id);
  } catch (err) {
    if (intent.started && ctx.store.getSnapshot(snap.id)) {
      // The base layer took part of the data: the VM's chain is sound, the point in time is not.
      ctx.store.tx((s) => {
        s.updateSnapshot(snap.id, { state: "drifted" });
        s.updateLayer(plan.base.id, { contentId: newContentId() });
        s.updateLayer(plan.top.id, { parentContentId: s.getLayer(plan.base.id)!.contentId });
      });
      await syncCatalog(ctx.store, layers[0].datastoreId);
    }
    if (ctx.signal.aborted) throw cancelled(`deleting snapshot ${snap.name} was cancelled; VM ${vm.name} runs on its full chain`);
    if (isEngineError(err)) throw err;
    const step = `consolidating snapshot ${snap.name} of VM ${vm.name}`;
    if (isNoSpaceError(err)) throw noSpace(step, err);
    throw internal(step, err);
  }
  await fs.rm(plan.top.path, { force: true });
  await syncCatalog(ctx.store, layers[0].datastoreId);
  const durationMs = round(performance.now() - t0);
  const chainDepth = chainAfter(layers.map((l) => ({ id: l.id, path: l.path, snapshotId: null })), plan).length;
  ctx.progress({ message: "consolidated" });
  ctx.log.info({ vmId: vm.id, snapshotId: snap.id, method, durationMs, pivotMs, guestPaused }, "snapshot consolidated");
  return { id: snap.id, vmId: vm.id, method, removedPath: plan.top.path, basePath: plan.base.path, bytes, durationMs, pivotMs, guestPaused, chainDepth };
}

async function offlineCommit(plan: ConsolidationPlan, signal: AbortSignal): Promise<void> {
  // -d keeps the top intact, so the chain reads the same however far the commit got; redoing it is harmless.
  await commit(plan.top.path, { drop: true, signal });
  if (plan.above) await rebase(plan.above.path, { backingPath: plan.base.path, unsafe: true, signal });
}

/**
 * Runs the live commit. The VM's QMP socket serves one client at a time, so the op does not
 * hold it: it connects for each step (start, each progress poll, the pivot) and lets go in
 * between, leaving the monitor to others (a guest agent, an operator, the tests' writers).
 */
async function liveCommit(
  ctx: OpContext,
  vm: Vm,
  plan: ConsolidationPlan,
  intent: DeleteIntent,
  speed: number | undefined,
  record: (i: DeleteIntent) => void,
): Promise<{ bytes: number; pivotMs: number | null; guestPaused: boolean }> {
  const jobId = intent.jobId;
  const topNode = await withQemu(vm, async (qmp) => {
    const chain = await liveChain(qmp);
    const topAt = chain.files.indexOf(plan.top.path);
    if (topAt < 0 || chain.files[topAt + 1] !== plan.base.path || (plan.active && topAt !== 0)) {
      throw conflict(`the VM's live chain (${chain.files.join(" → ")}) does not match the inventory`, "id");
    }
    const top = await nodeOfFile(qmp, plan.top.path);
    const base = await nodeOfFile(qmp, plan.base.path);
    intent.started = true;
    record(intent);
    await qmp.execute("block-commit", {
      "job-id": jobId,
      device: chain.node,
      "top-node": top,
      "base-node": base,
      ...(plan.active ? {} : { "backing-file": plan.base.path }),
      ...(speed ? { speed } : {}),
    });
    return top;
  });
  let bytes = 0;
  let pivotMs: number | null = null;
  let guestPaused = false;
  const deadline = Date.now() + COMMIT_TIMEOUT_MS;
  let uncapped = false;
  // QEMU fills in the job's length as it scans, so the bulk pass is judged by the top file's size.
  const bulkBytes = (await fs.stat(plan.top.path).catch(() => ({ size: 0 }))).size;
  const cancel = async (force: boolean) => {
    await withQemu(vm, (qmp) => qmp.execute("block-job-cancel", { device: jobId, force })).catch(() => undefined);
    // A ready mirror ends COMPLETED on cancel (without a pivot), others CANCELLED: wait until it is gone.
    for (let i = 0; i < 600; i++) {
      const jobs = await withQemu(vm, (qmp) => qmp.execute("query-block-jobs")).catch(() => []);
      if (!jobs.some((j) => j.device === jobId)) return;
      await sleepMs(100);
    }
  };
  for (;;) {
    if (ctx.signal.aborted) {
      await cancel(false);
      throw ctx.signal.reason;
    }
    if (Date.now() > deadline) {
      await cancel(true);
      throw new Error(`the commit did not converge in ${COMMIT_TIMEOUT_MS} ms`);
    }
    const { job, running } = await withQemu(vm, async (qmp) => ({
      job: (await qmp.execute("query-block-jobs")).find((j) => j.device === jobId) ?? null,
      running: (await qmp.execute("query-status")).running,
    }));
    if (!running) guestPaused = true;
    if (!job) break; // a non-active commit ends on its own; the live chain tells below whether it worked
    bytes = job.offset;
    ctx.progress({ unit: "bytes", done: job.offset, total: job.len, message: plan.active ? "mirroring the active layer into the snapshot" : "committing" });
    if (job.error) {
      await cancel(true);
      throw new Error(`the commit failed: ${job.error}`);
    }
    if (job.ready) break;
    if (speed && !uncapped && job.offset >= bulkBytes - CONVERGE_UNCAPPED_BYTES && job.len - job.offset < CONVERGE_UNCAPPED_BYTES) {
      // The cap is for the bulk pass; a capped mirror under steady guest writes may never
      // catch up, so the last stretch to READY runs at full speed.
      await withQemu(vm, (qmp) => qmp.execute("block-job-set-speed", { device: jobId, speed: 0 })).catch(() => undefined);
      uncapped = true;
    }
    await sleepMs(PROGRESS_POLL_MS, ctx.signal);
  }
  if (plan.active) {
    await faultHold(ctx, "delete-ready");
    if (ctx.signal.aborted) {
      await cancel(false);
      throw ctx.signal.reason;
    }
    await withQemu(vm, async (qmp) => {
      const stops = qmp.listen(["STOP"]);
      const events = qmp.listen(["BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR"], (e) => (e.data as { device?: string }).device === jobId);
      try {
        const before = await qmp.execute("query-status");
        const tp = performance.now();
        await qmp.execute("job-complete", { id: jobId });
        const done = await events.next({ timeoutMs: 60_000 });
        pivotMs = round(performance.now() - tp);
        const after = await qmp.execute("query-status");
        if (!before.running || !after.running || stops.drain().length > 0) guestPaused = true;
        const d = done.data as { error?: string; len?: number };
        if (done.event !== "BLOCK_JOB_COMPLETED" || d.error) throw new Error(`the pivot failed: ${done.event} ${JSON.stringify(d)}`);
        bytes = d.len ?? bytes;
      } finally {
        events.close();
        stops.close();
      }
    });
  }
  await withQemu(vm, async (qmp) => {
    const after = await liveChain(qmp);
    if (after.files.includes(plan.top.path)) throw new Error(`the layer ${plan.top.path} is still in the live chain after the commit`);
    await dropStaleNode(qmp, topNode);
  });
  ctx.progress({ unit: "bytes", done: bytes, total: bytes, message: "pivoted" });
  return { bytes, pivotMs, guestPaused };
}

function sleepMs(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

function commitDelete(store: Store, vm: Vm, plan: ConsolidationPlan, snapshotId: string): void {
  store.tx((s) => {
    const cid = newContentId();
    const owner = plan.baseNewOwner.kind === "vm" ? { ownerKind: "vm" as const, ownerId: vm.id } : { ownerKind: "snapshot" as const, ownerId: plan.baseNewOwner.snapshotId };
    s.transferLayer(plan.base.id, { path: plan.base.path, ...owner });
    s.updateLayer(plan.base.id, { contentId: cid });
    if (plan.above) s.updateLayer(plan.above.id, { backingPath: plan.base.path, parentContentId: cid });
    if (plan.active) s.updateVm(vm.id, { diskLayerId: plan.base.id });
    // The deleted snapshot lets go of the base first: a layer belongs to one snapshot at a time.
    s.deleteSnapshot(snapshotId);
    if (plan.baseNewOwner.kind === "snapshot") s.updateSnapshot(plan.baseNewOwner.snapshotId, { layerId: plan.base.id });
    s.deleteLayer(plan.top.id);
  });
}

/**
 * After a crash during a consolidation: records already committed → the merged layer's file
 * is removed; a live commit still in QEMU is completed (pivoted) when it is ready; then the
 * live chain (or the files' chain, for a stopped VM, after redoing the idempotent offline
 * commit) decides: the merged layer gone from it → records rolled forward; still in it →
 * records kept, the snapshot marked drifted if its layer was written.
 */
export async function recoverSnapshotDelete(ctx: OpContext, intent: unknown): Promise<{ finished: DeleteSnapshotResult | null; detail: string }> {
  const i = intent as DeleteIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the consolidation began" };
  const plan = i.plan;
  const result = (method: DeleteSnapshotResult["method"], depth: number): DeleteSnapshotResult => ({
    id: i.snapshotId,
    vmId: i.vmId,
    method,
    removedPath: plan.top.path,
    basePath: plan.base.path,
    bytes: 0,
    durationMs: 0,
    pivotMs: null,
    guestPaused: false,
    chainDepth: depth,
  });
  const vm = ctx.store.getVm(i.vmId);
  if (!ctx.store.getSnapshot(i.snapshotId) || !vm) {
    if (!ctx.store.findLayerByPath(plan.top.path)) await fs.rm(plan.top.path, { force: true });
    return { finished: result(i.live ? "live-active-commit" : "offline-commit", 0), detail: "" };
  }
  let merged: boolean;
  if (isRunning(vm)) {
    merged = await withQemu(vm, async (qmp) => {
      const job = (await qmp.execute("query-block-jobs")).find((j) => j.device === i.jobId);
      if (job) {
        const events = qmp.listen(["BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED"], (e) => (e.data as { device?: string }).device === i.jobId);
        try {
          let ready = job.ready;
          if (!ready) {
            // The cap the dead job set would only drag the recovery out.
            await qmp.execute("block-job-set-speed", { device: i.jobId, speed: 0 }).catch(() => undefined);
            const e = await events.waitFor(() => true, { timeoutMs: 120_000 }).catch(() => null);
            ready = e?.event === "BLOCK_JOB_READY";
          }
          if (ready) {
            await qmp.execute("job-complete", { id: i.jobId });
            await events.waitFor((e) => e.event !== "BLOCK_JOB_READY", { timeoutMs: 60_000 });
          } else if ((await qmp.execute("query-block-jobs")).some((j) => j.device === i.jobId)) {
            await qmp.execute("block-job-cancel", { device: i.jobId, force: true }).catch(() => undefined);
            await events.waitFor(() => true, { timeoutMs: 60_000 }).catch(() => undefined);
          }
        } finally {
          events.close();
        }
      }
      const live = await liveChain(qmp);
      const gone = !live.files.includes(plan.top.path);
      const stale = gone ? await anyNodeOnFile(qmp, plan.top.path) : null;
      if (stale) await dropStaleNode(qmp, stale);
      return gone;
    });
  } else {
    const top = ctx.store.getLayer(vm.diskLayerId)!;
    const files = (await imageInfoChain(top.path)).map((x) => x.path);
    if (files.includes(plan.top.path)) {
      if (!i.live || i.started) await offlineCommit(plan, ctx.signal);
    }
    merged = !i.live || Boolean(i.started) || !files.includes(plan.top.path);
  }
  if (merged) {
    commitDelete(ctx.store, vm, plan, i.snapshotId);
    await fs.rm(plan.top.path, { force: true });
    await syncCatalog(ctx.store, vm.datastoreId);
    return { finished: result(i.live ? (plan.active ? "live-active-commit" : "live-commit") : "offline-commit", diskLayersOf(ctx.store, ctx.store.getVm(vm.id)!).length), detail: "" };
  }
  if (i.started) {
    ctx.store.tx((s) => {
      s.updateSnapshot(i.snapshotId, { state: "drifted" });
      s.updateLayer(plan.base.id, { contentId: newContentId() });
    });
    await syncCatalog(ctx.store, vm.datastoreId);
  }
  return { finished: null, detail: "the engine stopped during the consolidation; the commit was cancelled and the VM runs on its full chain" };
}

// ---------------------------------------------------------------------------------------------
// backup

/**
 * Backs a VM up into `targetPath`: a snapshot, a flattened copy of its frozen point-in-time
 * chain (read with -U while the VM runs on), then the snapshot's consolidation. Progress goes
 * 0–100 over the three steps. On failure the part file is removed and the snapshot consolidated.
 */
export async function backupVm(ctx: OpContext, req: BackupVmRequest): Promise<BackupVmResult> {
  // The request was checked when the job was admitted; only what may have changed since is checked again.
  const vm = ctx.store.getVm(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "id");
  if (existsSync(req.targetPath)) throw conflict(`target_path: ${req.targetPath} exists already`, "target_path");
  // Again at run time: a folder on the way may have been swapped for a symlink since admission.
  checkBackupTarget(ctx.store, ctx.settings, req.targetPath);
  const intent: BackupIntent = {
    op: "backup",
    vmId: vm.id,
    targetPath: req.targetPath,
    partPath: path.join(path.dirname(req.targetPath), `.${path.basename(req.targetPath)}.cf-part`),
  };
  ctx.recordIntent(intent);
  const steps = (done: number, message: string) => ctx.progress({ unit: "steps", total: 100, done: Math.round(done), message });
  // One hold of the VM for the whole backup: a fork, capture or migration in between would
  // rest new disks on the snapshot's layer and leave it impossible to consolidate.
  return withVmLock(vm.id, () => backupLocked(ctx, req, vm, intent, steps));
}

async function backupLocked(ctx: OpContext, req: BackupVmRequest, vm: Vm, intent: BackupIntent, steps: (done: number, message: string) => void): Promise<BackupVmResult> {
  steps(0, "taking a snapshot");
  const t0 = performance.now();
  const snap = await createLocked({ ...ctx, progress: () => undefined }, { vmId: vm.id, name: `backup-${newContentId().slice(0, 8)}` }, (c) => {
    intent.create = c;
    ctx.recordIntent(intent);
  });
  const snapshotMs = round(performance.now() - t0);
  let copyMs = 0;
  let copyError: unknown = null;
  try {
    steps(5, "copying the frozen disk");
    const t1 = performance.now();
    // qemu-img writes through whatever sits at the part name; a leftover (or a planted symlink) goes first.
    await fs.rm(intent.partPath, { force: true });
    await convert(snap.frozenDiskPath, intent.partPath, {
      dstFormat: req.format,
      forceShare: true,
      signal: ctx.signal,
      // A backup is a background disk copy like an import: it honours the engine's copy cap.
      rateLimitBytesPerSec: ctx.settings.copyRateLimitBytesPerSec,
      onProgress: (f) => steps(5 + f * 75, "copying the frozen disk"),
    });
    await fs.rename(intent.partPath, req.targetPath);
    copyMs = round(performance.now() - t1);
  } catch (err) {
    copyError = err;
    await fs.rm(intent.partPath, { force: true }).catch(() => undefined);
  }
  steps(80, "consolidating the snapshot");
  // The snapshot goes even when the copy failed or was cancelled: a backup leaves no layer behind.
  let consolidation: DeleteSnapshotResult;
  try {
    consolidation = await deleteLocked(
      { ...ctx, signal: new AbortController().signal, progress: (p) => (p.unit === "bytes" && p.total ? steps(80 + (20 * (p.done ?? 0)) / p.total, "consolidating the snapshot") : undefined) },
      { id: snap.id, speedBytesPerSec: req.speedBytesPerSec },
      (d) => {
        intent.del = d;
        ctx.recordIntent(intent);
      },
    );
  } catch (err) {
    // A failed backup job leaves no target behind, whatever step failed.
    if (!copyError) await fs.rm(req.targetPath, { force: true }).catch(() => undefined);
    throw err;
  }
  if (copyError) {
    if (ctx.signal.aborted) throw cancelled("the backup was cancelled; its snapshot was consolidated");
    if (isEngineError(copyError)) throw copyError;
    const step = `copying VM ${vm.name}'s frozen disk to ${req.targetPath}`;
    if (isNoSpaceError(copyError)) throw noSpace(step, copyError);
    throw internal(step, copyError);
  }
  steps(100, "backed up");
  const sizeBytes = (await fs.stat(req.targetPath)).size;
  return { vmId: vm.id, targetPath: req.targetPath, format: req.format, sizeBytes, snapshotMs, copyMs, consolidation };
}

/** After a crash during a backup: the part file goes, the snapshot (if one was taken) is consolidated; a target already in place counts as finished. */
export async function recoverBackup(ctx: OpContext, req: BackupVmRequest, intent: unknown): Promise<{ finished: BackupVmResult | null; detail: string }> {
  const i = intent as BackupIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the backup began" };
  await fs.rm(i.partPath, { force: true });
  let snapshotId: string | null = null;
  if (i.create) snapshotId = (await recoverSnapshotCreate(ctx, i.create)).finished?.id ?? null;
  let consolidation: DeleteSnapshotResult | null = null;
  if (i.del) consolidation = (await recoverSnapshotDelete(ctx, i.del)).finished;
  else if (snapshotId && ctx.store.getSnapshot(snapshotId)) consolidation = await deleteSnapshot({ ...ctx, signal: new AbortController().signal }, { id: snapshotId });
  if (snapshotId && ctx.store.getSnapshot(snapshotId) && !consolidation) {
    consolidation = await deleteSnapshot({ ...ctx, signal: new AbortController().signal }, { id: snapshotId }).catch(() => null);
  }
  if (existsSync(i.targetPath) && consolidation) {
    const sizeBytes = (await fs.stat(i.targetPath)).size;
    return { finished: { vmId: i.vmId, targetPath: i.targetPath, format: req.format, sizeBytes, snapshotMs: 0, copyMs: 0, consolidation }, detail: "" };
  }
  return { finished: null, detail: "the engine stopped during the backup; the partial copy was removed and the snapshot consolidated" };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
