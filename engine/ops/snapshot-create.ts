/** Taking a snapshot (S4), and finishing or undoing one a crash interrupted. */
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import { createOverlay, newContentId, tmpDir } from "../disk";
import { conflict, internal, isEngineError, isNoSpaceError, noSpace, notFound } from "../errors";
import { liveChainFiles, nodeOfFile, withReattachedQmp } from "../hypervisor";
import { newId, nowIso, type DiskLayer, type Vm } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { overlayFileName } from "./snapshot-plan";
import { withVmLock } from "./vm-power";
import { faultHold } from "./fault-hold";
import { getSnapshotView, isRunning, type CreateSnapshotRequest, type SnapshotView } from "./snapshot";

/** The fault-hold variable of snapshot, consolidation and backup jobs (crash tests). */
const SNAPSHOT_HOLD = "CLONEFLEET_FAULT_SNAPSHOT_HOLD";

/** What a snapshot job recorded before it made its overlay. */
export interface CreateIntent {
  op: "create";
  vmId: string;
  snapshotId: string;
  name: string;
  frozenLayerId: string;
  newLayerId: string;
  newPath: string;
  live: boolean;
}


/**
 * Takes snapshot `name` of VM `vmId`: its top layer is frozen (owned by the snapshot from now
 * on) and the VM continues on a new overlay with a new content ID. A running VM is not paused.
 * Throws 404/409 EngineErrors for a bad request, 500 naming the failed step otherwise.
 */
export async function createSnapshot(ctx: OpContext, req: CreateSnapshotRequest): Promise<SnapshotView> {
  return withVmLock(req.vmId, () => createSnapshotLocked(ctx, req, (i) => ctx.recordIntent(i)));
}

/** Takes a snapshot while the caller holds the VM's lock (a backup holds it across its steps). */
export async function createSnapshotLocked(ctx: OpContext, req: CreateSnapshotRequest, record: (i: CreateIntent) => Promise<void> | void): Promise<SnapshotView> {
  const vm = await ctx.store.vms.get(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "id");
  if ((await ctx.store.snapshots.list({ vmId: vm.id })).some((s) => s.name === req.name)) throw conflict(`VM ${vm.name} already has a snapshot named ${JSON.stringify(req.name)}`, "name");
  const top = await ctx.store.layers.get(vm.diskLayerId);
  if (!top || !existsSync(top.path)) throw conflict(`VM ${vm.name}'s disk is missing; it cannot be snapshotted`, "id");
  const ds = await ctx.store.datastores.get(top.datastoreId);
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
  await record(intent);
  ctx.progress({ unit: "steps", done: 0, total: 2, message: live ? "freezing the running disk" : "creating an overlay" });
  try {
    if (live) {
      // The engine writes the overlay's header itself: QEMU would write the node's filename as
      // the backing path, which is `json:{…}` for a layer whose header names its backing relatively.
      await createOverlay(intent.newPath, { backingPath: top.path, sizeBytes: top.virtualSizeBytes, signal: ctx.signal });
      await withReattachedQmp(vm.stateDir!, async (qmp) => {
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
    await faultHold(ctx, SNAPSHOT_HOLD, "snapshot-after-overlay");
    await commitCreate(ctx.store, vm, top, intent);
  } catch (err) {
    if (!(await ctx.store.snapshots.get(intent.snapshotId))) await fs.rm(intent.newPath, { force: true }).catch(() => undefined);
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

async function commitCreate(store: Inventory, vm: Vm, top: DiskLayer, i: CreateIntent): Promise<void> {
  await store.tx(async (s) => {
    await s.layers.insert({
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
    await s.layers.transfer(top.id, { path: top.path, ownerKind: "snapshot", ownerId: i.snapshotId });
    await s.snapshots.insert({ id: i.snapshotId, vmId: vm.id, name: i.name, layerId: top.id, state: "ready", createdAt: nowIso() });
    await s.vms.update(vm.id, { diskLayerId: i.newLayerId });
  });
}

/** After a crash during a snapshot: recorded → finished; the VM's QEMU already on the new overlay → recorded now; otherwise the overlay is removed. */
export async function recoverSnapshotCreate(ctx: OpContext, intent: unknown): Promise<{ finished: SnapshotView | null }> {
  const i = intent as CreateIntent | null;
  if (!i) return { finished: null };
  if (await ctx.store.snapshots.get(i.snapshotId)) return { finished: await getSnapshotView(ctx.store, i.snapshotId) };
  const vm = await ctx.store.vms.get(i.vmId);
  const top = await ctx.store.layers.get(i.frozenLayerId);
  if (vm && top && vm.diskLayerId === top.id && existsSync(i.newPath)) {
    let onNew = false;
    if (isRunning(vm)) onNew = (await withReattachedQmp(vm.stateDir!, liveChainFiles)).files[0] === i.newPath;
    else if (!i.live) onNew = true; // the overlay was renamed into place complete; only the records are missing
    if (onNew) {
      await commitCreate(ctx.store, vm, top, i);
      await syncCatalog(ctx.store, top.datastoreId);
      return { finished: await getSnapshotView(ctx.store, i.snapshotId) };
    }
  }
  if (!(await ctx.store.layers.findByPath(i.newPath))) await fs.rm(i.newPath, { force: true });
  return { finished: null };
}

