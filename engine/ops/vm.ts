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
  type Datastore,
  type MissingAckPolicy,
  type Vm,
} from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { checkMissingAck, checkNotifyTimeout } from "./migrate-source";
import { cloneSource, provisionerFor, removeTargetFiles, type CloneTarget } from "./provision";
import { powerOff, removeVmStateDir } from "./vm-power";
import { getVmView, liveVmState, type VmView } from "./vm-view";
import { removeFromDatastore } from "./datastore-removal";
import { faultHold } from "./fault-hold";
import { datastoreReach, datastoreVisibleFrom } from "./datastore";

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
export async function checkVmRequest(store: Inventory, req: CreateVmRequest, opts: { admitName?: boolean } = {}): Promise<CreateVmRequest> {
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  if (req.hostId !== undefined && req.hostId !== null) {
    const host = await store.hosts.get(req.hostId);
    if (!host && req.hostId !== LOCAL_HOST_ID) throw notFound("host", req.hostId, "host_id");
  }
  if (req.migrationNotifyTimeoutSeconds !== undefined && req.migrationNotifyTimeoutSeconds !== null) checkNotifyTimeout(req.migrationNotifyTimeoutSeconds, "migration_notify_timeout_seconds");
  if (req.migrationOnMissingAck !== undefined && req.migrationOnMissingAck !== null) checkMissingAck(req.migrationOnMissingAck, "migration_on_missing_ack");
  checkCloneMode(req.cloneMode);
  const source = await cloneSource(store, req.templateId, "template_id");
  const datastoreId = req.datastoreId ?? source.template.datastoreId;
  const ds = await store.datastores.get(datastoreId);
  if (!ds) throw notFound("datastore", datastoreId, "datastore_id");
  if (req.cloneMode === "linked" && ds.id !== source.template.datastoreId) {
    throw incompatible(
      `datastore_id: a linked clone must live on its template's datastore (${source.datastore.name}, ${source.datastore.id}); use clone_mode full or pool for ${ds.name}`,
      "datastore_id",
    );
  }
  cloneHostOf(req.hostId ?? null, ds, source.datastore);
  if (opts.admitName !== false) await admitVmName(store, req.name);
  return { ...req, datastoreId: ds.id };
}

/**
 * The host a new VM lives on, whose agent makes its disk: the one asked for, else the host that
 * owns the target datastore or the template's; null when neither is any host's own (the
 * receiving host then). 409 naming `host_id` (or `datastore_id`) when that host cannot read both
 * the template's datastore and the VM's. Pure.
 */
export function cloneHostOf(requested: string | null, target: Datastore, templateDs: Datastore): string | null {
  const host = requested ?? target.hostId ?? templateDs.hostId;
  if (host === null) return null;
  for (const [ds, what] of [
    [target, "the VM's datastore"],
    [templateDs, "the template's datastore"],
  ] as const) {
    if (datastoreVisibleFrom(ds, host)) continue;
    const field = requested !== null ? "host_id" : "datastore_id";
    throw conflict(`host ${host} cannot read ${what} ${ds.name} (${datastoreReach(ds)}); choose a datastore that host reads, or replicate the template there first`, field);
  }
  return host;
}

/** The host that must run a `vm.create` job: see cloneHostOf (null: the receiving host). */
export async function createVmHost(store: Inventory, req: CreateVmRequest): Promise<string | null> {
  const template = await store.templates.get(req.templateId);
  const templateDs = template ? await store.datastores.get(template.datastoreId) : null;
  const target = await store.datastores.get(req.datastoreId ?? template?.datastoreId ?? "");
  if (!templateDs || !target) return req.hostId ?? null;
  return cloneHostOf(req.hostId ?? null, target, templateDs);
}

/** Refuses a name a VM has, or that a queued or running creation will take. */
export async function admitVmName(store: Inventory, name: string): Promise<void> {
  const existing = await store.vms.findByName(name);
  if (existing) throw conflict(`a VM named ${JSON.stringify(name)} already exists (${existing.id})`, "name");
  const pending = (await store.jobs.list({ states: ["queued", "running"] }))
    .find((j) => j.kind === CREATE_VM_KIND && (j.request as CreateVmRequest).name === name);
  if (pending) throw conflict(`VM ${JSON.stringify(name)} is being created by job ${pending.id}`, "name");
}

/**
 * Creates one VM from a template: its disk by the clone mode's provisioner (a ready pool copy
 * moved in, else a full copy; a full copy; or an overlay), recorded with the VM in one
 * transaction. On failure or cancellation nothing of it stays.
 */
export async function createVm(ctx: OpContext, req: CreateVmRequest): Promise<VmView> {
  const source = await cloneSource(ctx.store, req.templateId, "template_id");
  const datastoreId = req.datastoreId ?? source.template.datastoreId;
  const ds = await ctx.store.datastores.get(datastoreId);
  if (!ds) throw notFound("datastore", datastoreId, "datastore_id");
  const vmId = newId("vm");
  await ctx.recordIntent({ vmId, datastoreId: ds.id } satisfies CreateVmIntent);
  ctx.progress({ unit: "steps", done: 0, total: 1, message: `provisioning the disk (${req.cloneMode})` });
  const target: CloneTarget = {
    vmId,
    datastore: ds,
    makeVm: async (s, layer, provisionedBy) => {
      const taken = await s.vms.findByName(req.name);
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
        hostId: cloneHostOf(req.hostId ?? null, ds, source.datastore) ?? ctx.settings.hostId ?? LOCAL_HOST_ID,
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
  const view = await getVmView(ctx.store, vmId);
  ctx.log.info({ vmId, name: req.name, provisionedBy: view.provisionedBy }, "VM created");
  return view;
}

/** After a crash: a creation whose VM was recorded is finished; otherwise its files are removed. */
export async function recoverVmCreate(ctx: OpContext, intent: unknown): Promise<{ finished: VmView | null }> {
  const i = intent as CreateVmIntent | null;
  if (!i) return { finished: null };
  if (await ctx.store.vms.get(i.vmId)) return { finished: await getVmView(ctx.store, i.vmId) };
  const ds = await ctx.store.datastores.get(i.datastoreId);
  if (ds) {
    await removeTargetFiles(ds.path, i.vmId);
    await syncCatalog(ctx.store, ds.id);
  }
  return { finished: null };
}

/** Checks that VM `id` may be deleted: 404 when unknown, 409 for a fleet member or a disk other disks are backed by. Changes nothing. */
export async function checkVmDelete(store: Inventory, id: string): Promise<Vm> {
  const vm = await store.vms.get(id);
  if (!vm) throw notFound("vm", id, "id");
  if (vm.fleetId) {
    const fleet = await store.fleets.get(vm.fleetId);
    throw conflict(`VM ${vm.name} is a member of fleet ${fleet?.namePrefix ?? vm.fleetId} (${vm.fleetId}); change the fleet's size instead`, "id");
  }
  const layers = new Set((await store.layers.list({ ownerKind: "vm", ownerId: vm.id })).map((l) => l.path));
  const dependants = (await store.layers.list()).filter((l) => l.backingPath !== null && layers.has(l.backingPath) && !layers.has(l.path));
  if (dependants.length > 0) throw conflict(`VM ${vm.name}'s disk backs other disks: ${dependants.map((l) => l.path).join(", ")}`, "id");
  return vm;
}

/**
 * Deletes a standalone VM and its disk: records first (so nothing hands it out), then its
 * folder; `beforeCommit` sees the files still to remove before any record changes. Throws as
 * checkVmDelete does.
 */
export async function deleteVm(ctx: OpContext, id: string, beforeCommit?: (removal: VmFilesRemoval) => Promise<void> | void): Promise<void> {
  const vm = await checkVmDelete(ctx.store, id);
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
export async function removeVms(ctx: OpContext, vms: readonly Vm[], beforeCommit?: (removal: VmFilesRemoval) => Promise<void> | void): Promise<void> {
  if (vms.length === 0) return;
  // A VM running on another host is stopped by that host's agent first: its QEMU is not this machine's to kill.
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  const elsewhere = vms.filter((vm) => (vm.hostId ?? LOCAL_HOST_ID) !== self && vm.powerState === "running");
  if (elsewhere.length > 0 && ctx.hostWork) {
    const work = ctx.hostWork;
    await Promise.all(elsewhere.map((vm) => work.runJob(JOB_KINDS.stopVm, { id: vm.id, timeoutMs: 0 })));
  }
  const removal: VmFilesRemoval = {
    vms: vms.map((vm) => ({ id: vm.id, hostId: vm.hostId ?? null, stateDir: vm.stateDir ?? null, homeDir: vm.homeDir, datastoreId: vm.datastoreId })),
    strays: await strayFilesOf(ctx.store, vms),
  };
  await beforeCommit?.(removal);
  await ctx.store.tx(async (s) => {
    const all = await s.layers.list();
    for (const vm of vms) {
      const layer = await s.layers.get(vm.diskLayerId);
      const backed = layer ? all.filter((l) => l.backingPath === layer.path) : [];
      if (backed.length > 0) throw conflict(`VM ${vm.name}'s disk backs other disks: ${backed.map((l) => l.path).join(", ")}`, "id");
      // Its snapshots' frozen layers lie in its home folder and go with it.
      for (const snap of await s.snapshots.list({ vmId: vm.id })) {
        await s.snapshots.delete(snap.id);
        if (await s.layers.get(snap.layerId)) await s.layers.delete(snap.layerId);
      }
      await s.vms.delete(vm.id);
      if (layer) await s.layers.delete(layer.id);
      // Layers a fork froze below the VM's own (its former top layers) go with it.
      for (const l of await s.layers.list({ ownerKind: "vm", ownerId: vm.id })) await s.layers.delete(l.id);
    }
  });
  await faultHold(ctx, "CLONEFLEET_FAULT_VM_HOLD", "delete:after-commit");
  await removeVmFiles(ctx, removal);
}

/** Files of VMs' layers that lie outside their home folders but inside their datastore's engine folder. */
async function strayFilesOf(store: Inventory, vms: readonly Vm[]): Promise<string[]> {
  const strays: string[] = [];
  for (const vm of vms) {
    const ds = await store.datastores.get(vm.datastoreId);
    if (!ds) continue;
    const top = await store.layers.get(vm.diskLayerId);
    const owned = [...(top ? [top] : []), ...(await store.layers.list({ ownerKind: "vm", ownerId: vm.id })).filter((l) => l.id !== top?.id)];
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
export async function reconcileVms(ctx: OpContext, datastoreId: string): Promise<string[]> {
  const drifted: string[] = [];
  for (const vm of await ctx.store.vms.list({ datastoreId })) {
    if (vm.state === "drifted") continue;
    if (liveVmState(vm, await ctx.store.layers.get(vm.diskLayerId)) === "drifted") {
      await ctx.store.tx(async (s) => await s.vms.update(vm.id, { state: "drifted" }));
      drifted.push(vm.id);
    }
  }
  return drifted;
}
