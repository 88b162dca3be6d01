import { promises as fs } from "node:fs";
import * as path from "node:path";
import { engineDir, isInside, vmDir } from "../disk";
import { conflict, incompatible, invalidField, notFound } from "../errors";
import {
  JOB_KINDS,
  LOCAL_HOST_ID,
  nameProblem,
  pathIsWithin,
  newId,
  nowIso,
  type CloneMode,
  type MissingAckPolicy,
  type Vm,
} from "../model";
import type { Store } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { checkMissingAck, checkNotifyTimeout } from "./migrate-source";
import { cloneSource, provisionerFor, removeTargetFiles, type CloneTarget } from "./provision";
import { powerOff, removeVmStateDir } from "./vm-power";
import { getVmView, liveVmState, type VmView } from "./vm-view";
import { removeFromDatastore } from "./datastore-removal";
import { faultHold } from "./fault-hold";

/** Every clone mode, in the order users read them. */
export const CLONE_MODES: readonly CloneMode[] = ["pool", "full", "linked"];

/** A request for one VM cloned from a template. */
export interface CreateVmRequest {
  name: string;
  templateId: string;
  /** Where the VM's disk goes; the template's datastore when null. */
  datastoreId: string | null;
  cloneMode: CloneMode;
  /** The host to place it on (S6); the host that runs the request when null. */
  hostId?: string | null;
  /** Seconds its guest gets to acknowledge a migration notice (0, the default: no notice). */
  migrationNotifyTimeoutSeconds?: number | null;
  /** What a migration does without the acknowledgement (default proceed). */
  migrationOnMissingAck?: MissingAckPolicy | null;
}

/** The ids a VM creation is about to make files for, recorded before any file is touched. */
interface CreateVmIntent {
  vmId: string;
  datastoreId: string;
}

/** The job kind that creates a VM. */
export const CREATE_VM_KIND = JOB_KINDS.createVm;

/** Refuses a clone mode that is not pool, full or linked, naming `field`. */
export function checkCloneMode(mode: unknown, field = "clone_mode"): CloneMode {
  if (typeof mode !== "string" || !CLONE_MODES.includes(mode as CloneMode)) {
    throw invalidField(field, `must be one of ${CLONE_MODES.join(", ")} (got ${JSON.stringify(mode)})`);
  }
  return mode as CloneMode;
}

/**
 * Checks a VM creation against the inventory, touching nothing, and fills in the datastore;
 * throws a 4xx EngineError naming the first bad field. `admitName: false` skips the check that
 * the name is free (for a retried request whose job already took it).
 */
export function checkVmRequest(store: Store, req: CreateVmRequest, opts: { admitName?: boolean } = {}): CreateVmRequest {
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  if (req.hostId !== undefined && req.hostId !== null) {
    const host = store.getHost(req.hostId);
    if (!host && req.hostId !== LOCAL_HOST_ID) throw notFound("host", req.hostId, "host_id");
  }
  if (req.migrationNotifyTimeoutSeconds !== undefined && req.migrationNotifyTimeoutSeconds !== null) checkNotifyTimeout(req.migrationNotifyTimeoutSeconds, "migration_notify_timeout_seconds");
  if (req.migrationOnMissingAck !== undefined && req.migrationOnMissingAck !== null) checkMissingAck(req.migrationOnMissingAck, "migration_on_missing_ack");
  checkCloneMode(req.cloneMode);
  const source = cloneSource(store, req.templateId, "template_id");
  const datastoreId = req.datastoreId ?? source.template.datastoreId;
  const ds = store.getDatastore(datastoreId);
  if (!ds) throw notFound("datastore", datastoreId, "datastore_id");
  if (req.cloneMode === "linked" && ds.id !== source.template.datastoreId) {
    throw incompatible(
      `datastore_id: a linked clone must live on its template's datastore (${source.datastore.name}, ${source.datastore.id}); use clone_mode full or pool for ${ds.name}`,
      "datastore_id",
    );
  }
  if (opts.admitName !== false) admitVmName(store, req.name);
  return { ...req, datastoreId: ds.id };
}

/** Refuses a name a VM has, or that a queued or running creation will take. */
export function admitVmName(store: Store, name: string): void {
  const existing = store.findVmByName(name);
  if (existing) throw conflict(`a VM named ${JSON.stringify(name)} already exists (${existing.id})`, "name");
  const pending = store
    .listJobs({ states: ["queued", "running"] })
    .find((j) => j.kind === CREATE_VM_KIND && (j.request as CreateVmRequest).name === name);
  if (pending) throw conflict(`VM ${JSON.stringify(name)} is being created by job ${pending.id}`, "name");
}

/**
 * Creates one VM from a template: its disk by the clone mode's provisioner (a ready pool copy
 * moved in, else a full copy; a full copy; or an overlay), recorded with the VM in one
 * transaction. On failure or cancellation nothing of it stays.
 */
export async function createVm(ctx: OpContext, req: CreateVmRequest): Promise<VmView> {
  const source = cloneSource(ctx.store, req.templateId, "template_id");
  const datastoreId = req.datastoreId ?? source.template.datastoreId;
  const ds = ctx.store.getDatastore(datastoreId);
  if (!ds) throw notFound("datastore", datastoreId, "datastore_id");
  const vmId = newId("vm");
  ctx.recordIntent({ vmId, datastoreId: ds.id } satisfies CreateVmIntent);
  ctx.progress({ unit: "steps", done: 0, total: 1, message: `provisioning the disk (${req.cloneMode})` });
  const target: CloneTarget = {
    vmId,
    datastore: ds,
    makeVm: (s, layer, provisionedBy) => {
      const taken = s.findVmByName(req.name);
      if (taken) throw conflict(`a VM named ${JSON.stringify(req.name)} already exists (${taken.id})`, "name");
      return {
        id: vmId,
        name: req.name,
        templateId: source.template.id,
        datastoreId: ds.id,
        diskLayerId: layer.id,
        homeDir: vmDir(ds.path, vmId),
        provisionedBy,
        cloneMode: req.cloneMode,
        fleetId: null,
        powerState: "stopped",
        state: "ready",
        createdAt: nowIso(),
        hostId: req.hostId ?? ctx.settings.hostId ?? LOCAL_HOST_ID,
        migrationNotifyTimeoutSeconds: req.migrationNotifyTimeoutSeconds ?? 0,
        migrationOnMissingAck: req.migrationOnMissingAck ?? "proceed",
      };
    },
  };
  try {
    await provisionerFor(req.cloneMode).provision(ctx, source, [target]);
  } finally {
    await syncCatalog(ctx.store, ds.id);
  }
  ctx.progress({ done: 1, message: "created" });
  const view = getVmView(ctx.store, vmId);
  ctx.log.info({ vmId, name: req.name, provisionedBy: view.provisionedBy }, "VM created");
  return view;
}

/** After a crash: a creation whose VM was recorded is finished; otherwise its files are removed. */
export async function recoverVmCreate(ctx: OpContext, intent: unknown): Promise<{ finished: VmView | null }> {
  const i = intent as CreateVmIntent | null;
  if (!i) return { finished: null };
  if (ctx.store.getVm(i.vmId)) return { finished: getVmView(ctx.store, i.vmId) };
  const ds = ctx.store.getDatastore(i.datastoreId);
  if (ds) {
    await removeTargetFiles(ds.path, i.vmId);
    await syncCatalog(ctx.store, ds.id);
  }
  return { finished: null };
}

/** Checks that VM `id` may be deleted: 404 when unknown, 409 for a fleet member or a disk other disks are backed by. Changes nothing. */
export function checkVmDelete(store: Store, id: string): Vm {
  const vm = store.getVm(id);
  if (!vm) throw notFound("vm", id, "id");
  if (vm.fleetId) {
    const fleet = store.getFleet(vm.fleetId);
    throw conflict(`VM ${vm.name} is a member of fleet ${fleet?.namePrefix ?? vm.fleetId} (${vm.fleetId}); change the fleet's size instead`, "id");
  }
  const layers = new Set(store.listLayers({ ownerKind: "vm", ownerId: vm.id }).map((l) => l.path));
  const dependants = store.listLayers().filter((l) => l.backingPath !== null && layers.has(l.backingPath) && !layers.has(l.path));
  if (dependants.length > 0) throw conflict(`VM ${vm.name}'s disk backs other disks: ${dependants.map((l) => l.path).join(", ")}`, "id");
  return vm;
}

/**
 * Deletes a standalone VM and its disk: records first (so nothing hands it out), then its
 * folder; `beforeCommit` sees the files still to remove before any record changes. Throws as
 * checkVmDelete does.
 */
export async function deleteVm(ctx: OpContext, id: string, beforeCommit?: (removal: VmFilesRemoval) => void): Promise<void> {
  const vm = checkVmDelete(ctx.store, id);
  await removeVms(ctx, [vm], beforeCommit);
  ctx.log.info({ vmId: id }, "VM deleted");
}

/** What removing VMs leaves to do on disk once their records are gone (a `vm.delete` job's intent carries it). */
export interface VmFilesRemoval {
  /** Per VM: its QEMU state folder (on its host) and its home folder on its datastore. */
  vms: { id: string; hostId: string | null; stateDir: string | null; homeDir: string; datastoreId: string }[];
  /** Files of the VMs' layers outside their home folders (a frozen layer an instant-clone parent left behind). */
  strays: string[];
}

/**
 * Removes VMs: their records and disk layer records in one transaction (refused with 409 when
 * another disk is backed by one of theirs), then their home folders, then the catalogs.
 * `beforeCommit` sees the file removal still to do before any record changes (a job records it).
 */
export async function removeVms(ctx: OpContext, vms: readonly Vm[], beforeCommit?: (removal: VmFilesRemoval) => void): Promise<void> {
  if (vms.length === 0) return;
  const removal: VmFilesRemoval = {
    vms: vms.map((vm) => ({ id: vm.id, hostId: vm.hostId ?? null, stateDir: vm.stateDir ?? null, homeDir: vm.homeDir, datastoreId: vm.datastoreId })),
    strays: strayFilesOf(ctx.store, vms),
  };
  beforeCommit?.(removal);
  ctx.store.tx((s) => {
    const all = s.listLayers();
    for (const vm of vms) {
      const layer = s.getLayer(vm.diskLayerId);
      const backed = layer ? all.filter((l) => l.backingPath === layer.path) : [];
      if (backed.length > 0) throw conflict(`VM ${vm.name}'s disk backs other disks: ${backed.map((l) => l.path).join(", ")}`, "id");
      // Its snapshots' frozen layers lie in its home folder and go with it.
      for (const snap of s.listSnapshots({ vmId: vm.id })) {
        s.deleteSnapshot(snap.id);
        if (s.getLayer(snap.layerId)) s.deleteLayer(snap.layerId);
      }
      s.deleteVm(vm.id);
      if (layer) s.deleteLayer(layer.id);
      // Layers a fork froze below the VM's own (its former top layers) go with it.
      for (const l of s.listLayers({ ownerKind: "vm", ownerId: vm.id })) s.deleteLayer(l.id);
    }
  });
  await faultHold(ctx, "CLONEFLEET_FAULT_VM_HOLD", "delete:after-commit");
  await removeVmFiles(ctx, removal);
}

/** Files of VMs' layers that lie outside their home folders but inside their datastore's engine folder. */
function strayFilesOf(store: Store, vms: readonly Vm[]): string[] {
  const strays: string[] = [];
  for (const vm of vms) {
    const ds = store.getDatastore(vm.datastoreId);
    if (!ds) continue;
    const top = store.getLayer(vm.diskLayerId);
    const owned = [...(top ? [top] : []), ...store.listLayers({ ownerKind: "vm", ownerId: vm.id }).filter((l) => l.id !== top?.id)];
    for (const l of owned) if (!pathIsWithin(vm.homeDir, l.path) && isInside(engineDir(ds.path), l.path)) strays.push(l.path);
  }
  return strays;
}

/**
 * Removes what VMs whose records are gone left on disk: their QEMU (stopped at once) and state
 * folders, their home folders, stray layer files, then syncs the catalogs. Safe to run again.
 */
export async function removeVmFiles(ctx: OpContext, removal: VmFilesRemoval): Promise<void> {
  // A running VM's QEMU goes first: its files are about to vanish.
  await Promise.all(removal.vms.map((vm) => powerOff(vm.stateDir, 0).then(() => (vm.stateDir ? removeVmStateDir(ctx, vm.stateDir, vm.hostId) : undefined))));
  await Promise.all(removal.vms.map((vm) => removeFromDatastore(ctx.store, vm.homeDir)));
  for (const file of removal.strays) {
    await removeFromDatastore(ctx.store, file);
    // Its folder goes when nothing else is left in it (rmdir refuses a folder that is not empty).
    await fs.rmdir(path.dirname(file)).catch(() => undefined);
  }
  for (const dsId of new Set(removal.vms.map((v) => v.datastoreId))) await syncCatalog(ctx.store, dsId);
}

/** At start, for one datastore: marks VMs whose disk is gone as drifted; returns their ids. */
export function reconcileVms(ctx: OpContext, datastoreId: string): string[] {
  const drifted: string[] = [];
  for (const vm of ctx.store.listVms({ datastoreId })) {
    if (vm.state === "drifted") continue;
    if (liveVmState(vm, ctx.store.getLayer(vm.diskLayerId)) === "drifted") {
      ctx.store.tx((s) => s.updateVm(vm.id, { state: "drifted" }));
      drifted.push(vm.id);
    }
  }
  return drifted;
}
