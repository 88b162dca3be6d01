/**
 * Snapshots, consolidation and backup (S4): the requests, views and checks the three share.
 * snapshot-create.ts freezes a VM's top layer and moves the VM onto a new overlay (QMP
 * `blockdev-snapshot-sync` while it runs, `qemu-img create -b` while it is stopped);
 * snapshot-consolidate.ts deletes a snapshot by committing the layer right above the frozen
 * one into it (see snapshot-plan.ts; live, QMP `block-commit`); snapshot-backup.ts is
 * snapshot, then a flattened copy of the frozen chain, then consolidation, in one job.
 */
import { existsSync, lstatSync, realpathSync } from "node:fs";
import * as path from "node:path";
import { engineDir, isInside } from "../disk";
import { conflict, invalidField, notFound } from "../errors";
import { absolutePathProblem, JOB_KINDS, nameProblem, pathIsWithin, type DiskLayer, type Snapshot, type Vm } from "../model";
import type { Inventory } from "../store";
import type { EngineSettings } from "./context";
import { livePid } from "./vm-power";

export const CREATE_SNAPSHOT_KIND = JOB_KINDS.createSnapshot;
export const DELETE_SNAPSHOT_KIND = JOB_KINDS.deleteSnapshot;
export const BACKUP_VM_KIND = JOB_KINDS.backupVm;

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


/** The snapshot with this id; 404 when unknown. */
export async function getSnapshotView(store: Inventory, id: string): Promise<SnapshotView> {
  const snap = await store.snapshots.get(id);
  if (!snap) throw notFound("snapshot", id, "id");
  return snapshotView(store, snap);
}

/** The snapshots of a VM, oldest first; 404 for an unknown VM. */
export async function listSnapshotViews(store: Inventory, vmId: string): Promise<SnapshotView[]> {
  if (!(await store.vms.get(vmId))) throw notFound("vm", vmId, "id");
  return Promise.all((await store.snapshots.list({ vmId })).map((s) => snapshotView(store, s)));
}

async function snapshotView(store: Inventory, snap: Snapshot): Promise<SnapshotView> {
  const layer = await store.layers.get(snap.layerId);
  const chain: string[] = [];
  let cursor: DiskLayer | null = layer;
  for (let depth = 0; cursor && depth < 256; depth++) {
    chain.push(cursor.path);
    cursor = cursor.backingPath ? await store.layers.findByPath(cursor.backingPath) : null;
  }
  const state = snap.state === "ready" && layer && existsSync(layer.path) ? "ready" : "drifted";
  return { ...snap, state, frozenDiskPath: layer?.path ?? "", contentId: layer?.contentId ?? null, frozenChain: chain };
}

/** Refuses a snapshot request that cannot be done, touching nothing (404/400/409 naming the field). */
export async function checkSnapshotCreate(store: Inventory, req: CreateSnapshotRequest): Promise<void> {
  const vm = await store.vms.get(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "id");
  const issue = nameProblem(req.name);
  if (issue) throw invalidField("name", issue);
  await admitSnapshotCreate(store, req);
}

/** Refuses a name the VM's snapshots have or a queued or running snapshot job will take (runs in the job's transaction). */
export async function admitSnapshotCreate(store: Inventory, req: CreateSnapshotRequest): Promise<void> {
  if (!(await store.vms.get(req.vmId))) throw conflict(`VM ${req.vmId} was removed`, "id");
  if ((await store.snapshots.list({ vmId: req.vmId })).some((s) => s.name === req.name)) throw conflict(`VM ${req.vmId} already has a snapshot named ${JSON.stringify(req.name)}`, "name");
  const pending = (await store.jobs.list({ states: ["queued", "running"] }))
    .find((j) => j.kind === CREATE_SNAPSHOT_KIND && (j.request as CreateSnapshotRequest).vmId === req.vmId && (j.request as CreateSnapshotRequest).name === req.name);
  if (pending) throw conflict(`snapshot ${JSON.stringify(req.name)} is being taken by job ${pending.id}`, "name");
}

/** Refuses deleting an unknown snapshot or one another job is deleting already. */
export async function admitSnapshotDelete(store: Inventory, req: DeleteSnapshotRequest): Promise<void> {
  if (!(await store.snapshots.get(req.id))) throw notFound("snapshot", req.id, "id");
  if (req.speedBytesPerSec !== undefined && (!Number.isInteger(req.speedBytesPerSec) || req.speedBytesPerSec < 0)) throw invalidField("speed_bytes_per_sec", "must be a whole number ≥ 0");
  const pending = (await store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === DELETE_SNAPSHOT_KIND && (j.request as DeleteSnapshotRequest).id === req.id);
  if (pending) throw conflict(`snapshot ${req.id} is being deleted by job ${pending.id}`, "id");
}

/** Refuses a backup that cannot be done: unknown VM, bad format, a target that is relative, exists, has no folder or lies in a datastore's engine folder. */
export async function checkBackupRequest(store: Inventory, req: BackupVmRequest): Promise<void> {
  if (!(await store.vms.get(req.vmId))) throw notFound("vm", req.vmId, "id");
  if (req.format !== "qcow2" && req.format !== "raw") throw invalidField("format", "must be qcow2 or raw");
  const t = req.targetPath;
  const pathIssue = absolutePathProblem(t);
  if (pathIssue) throw invalidField("target_path", pathIssue);
  if (path.normalize(t) !== t || t.endsWith("/")) throw invalidField("target_path", "must be an absolute, normalised file path");
  if (existsSync(t)) throw conflict(`target_path: ${t} exists already`, "target_path");
  if (!existsSync(path.dirname(t))) throw invalidField("target_path", `the folder ${path.dirname(t)} does not exist`);
  for (const ds of await store.datastores.list()) {
    if (isInside(engineDir(ds.path), t) || t === engineDir(ds.path)) throw invalidField("target_path", `must not lie in datastore ${ds.name}'s engine folder`);
  }
  if (req.speedBytesPerSec !== undefined && (!Number.isInteger(req.speedBytesPerSec) || req.speedBytesPerSec < 0)) throw invalidField("speed_bytes_per_sec", "must be a whole number ≥ 0");
  const pending = (await store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === BACKUP_VM_KIND && (j.request as BackupVmRequest).targetPath === t);
  if (pending) throw conflict(`target_path: job ${pending.id} writes ${t} already`, "target_path");
}

/**
 * Refuses a backup target outside the folders backups may go to: a datastore's folder (not its
 * engine folder) or a backup folder the engine was started with (`--backup-dir`). The target's
 * folder is resolved first, so a symlinked folder inside a datastore that points elsewhere
 * (say at /etc) is refused too. The engine writes guest-controlled bytes there as root.
 */
export async function checkBackupTarget(store: Inventory, settings: EngineSettings, targetPath: string): Promise<void> {
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
  const datastores = (await store.datastores.list()).map((ds) => ({ name: ds.name, root: realOrSelf(ds.path) }));
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

/** True when the VM's record says running and its QEMU lives. */
export function isRunning(vm: Vm): boolean {
  return vm.powerState === "running" && livePid(vm.stateDir) !== null;
}

/** A duration in ms rounded to hundredths, as results report them. */
export function roundMs(ms: number): number {
  return Math.round(ms * 100) / 100;
}
