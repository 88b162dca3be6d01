/**
 * Live migration with a datastore move (S6): the VM's disk goes to another datastore while
 * the VM moves to another host.
 *
 * Layout: a top-only move. The VM's own (top) layer gets a new file, `vms/<id>/disk.qcow2` in
 * the target datastore's engine folder, whose backing file is the VM's existing backing layer
 * (a template's disk, a base) left where it is, on its datastore; a VM without a backing layer
 * is moved whole. The old top file is removed afterwards.
 *
 * Mechanism: the target QEMU opens the new file and exports it writable over NBD; the source
 * QEMU adds an NBD client node and runs `blockdev-mirror` of its disk into it until READY,
 * migrates with `pause-before-switchover`, and at the pause (guest stopped, I/O drained)
 * cancels the READY mirror (which leaves both copies identical), drops the client node and
 * lets the switch-over go on. Why NBD rather than the source mirroring into the new file
 * directly (both hosts see the same filesystems here): with QEMU 7.2's image locking the
 * file can have one writer only; the target QEMU holds it from its start, and when the
 * migration completes it takes the write lock the source's mirror target would still hold.
 * Over NBD the target QEMU is the only process that ever opens the new file.
 */
import type { NbdEndpoint } from "../peer";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { createImage, createOverlay, engineDir, ensureLayout, newContentId, removeOwnedTree, vmDir, vmDiskPath } from "../disk";
import { conflict, notFound } from "../errors";
import { liveDiskChain, pollUntil, setMigrationCapabilities, setMigrationParameters, type MigrationInfo, type MigrationParameters, type QmpClient } from "../hypervisor";
import { newId, nowIso, pathIsWithin, type DiskLayer, type Vm } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import { datastoreReach, datastoreVisibleFrom } from "./datastore";
import { diskLayersOf } from "./vm-power";
import { removeFromDatastore } from "./datastore-removal";

/** Node name of the NBD client node the source mirrors into. */
export const MIRROR_TARGET_NODE = "mig-dst";
/** Job id of the mirror on the source. */
export const MIRROR_JOB_ID = "mig-mirror";
/** Id and export name of the target's NBD export of its disk. */
export const TARGET_EXPORT_ID = "mig-disk0";

/** How long the mirror may take to first reach READY. */
export const MIRROR_READY_TIMEOUT_MS = 120_000;

/** A planned datastore move of a VM's disk: where its top layer goes. */
export interface StorageMove {
  targetDatastoreId: string;
  sourceDatastoreId: string;
  oldLayerId: string;
  oldPath: string;
  oldHomeDir: string;
  newPath: string;
  newHomeDir: string;
  /** The backing layer the new file keeps (absolute), or null when the disk is moved whole. */
  backingPath: string | null;
  virtualSizeBytes: number;
}

/**
 * Plans moving `vm`'s disk to datastore `targetDatastoreId`, touching nothing; null when it is
 * already there (no move). 404 naming `target_datastore_id` for an unknown datastore; 409 when
 * other files live in the VM's folder (snapshots, layers a fork froze: they would be left
 * behind), when another disk is backed by its top layer, or when the target already holds a
 * folder for the VM.
 */
export async function planStorageMove(store: Inventory, vm: Vm, targetDatastoreId: string | null | undefined): Promise<StorageMove | null> {
  if (targetDatastoreId === null || targetDatastoreId === undefined) return null;
  const ds = await store.datastores.get(targetDatastoreId);
  if (!ds) throw notFound("datastore", targetDatastoreId, "target_datastore_id");
  if (ds.id === vm.datastoreId) return null;
  const layers = await diskLayersOf(store, vm);
  const top = layers[0];
  const others = (await store.layers.list()).filter((l) => l.id !== top.id && pathIsWithin(vm.homeDir, l.path));
  if (others.length > 0) {
    throw conflict(`VM ${vm.name} has other layers in its folder (snapshots or frozen fork layers: ${others.map((l) => path.basename(l.path)).join(", ")}); only a VM whose folder holds its disk alone moves datastore`, "target_datastore_id");
  }
  const dependants = (await store.layers.list()).filter((l) => l.backingPath === top.path);
  if (dependants.length > 0) throw conflict(`VM ${vm.name}'s disk backs other disks (${dependants.map((l) => l.path).join(", ")}); it cannot move datastore`, "target_datastore_id");
  const newHomeDir = vmDir(ds.path, vm.id);
  return {
    targetDatastoreId: ds.id,
    sourceDatastoreId: vm.datastoreId,
    oldLayerId: top.id,
    oldPath: top.path,
    oldHomeDir: vm.homeDir,
    newPath: vmDiskPath(ds.path, vm.id),
    newHomeDir,
    backingPath: layers[1]?.path ?? null,
    virtualSizeBytes: top.virtualSizeBytes,
  };
}

/**
 * Refuses a migration whose target host could not read the VM's disk afterwards: the top layer's
 * datastore (or the one it moves to) and every backing layer's must be shared or the target's
 * own. 409 naming `target_datastore_id` when the move goes somewhere the target cannot see,
 * `host_id` otherwise. Reads only.
 */
export async function checkTargetSeesDisk(store: Inventory, vm: Vm, targetHostId: string, targetDatastoreId: string | null | undefined): Promise<void> {
  const layers = await diskLayersOf(store, vm);
  const moving = targetDatastoreId !== null && targetDatastoreId !== undefined && targetDatastoreId !== vm.datastoreId;
  const needed = [moving ? targetDatastoreId : vm.datastoreId, ...layers.slice(1).map((l) => l.datastoreId)];
  for (const [i, id] of needed.entries()) {
    const ds = await store.datastores.get(id);
    if (!ds || datastoreVisibleFrom(ds, targetHostId)) continue;
    if (i === 0 && moving) {
      throw conflict(`host ${targetHostId} cannot read datastore ${ds.name} (${datastoreReach(ds)}); name one it can read in target_datastore_id`, "target_datastore_id");
    }
    const what = i === 0 ? `VM ${vm.name}'s disk is on datastore ${ds.name}` : `VM ${vm.name}'s disk is backed by a layer on datastore ${ds.name}`;
    throw conflict(
      `${what} (${datastoreReach(ds)}), which host ${targetHostId} cannot read; ${i === 0 ? "move the disk with target_datastore_id naming a datastore that host reads" : "replicate that layer to a datastore it reads first"}`,
      "host_id",
    );
  }
}

/** Target side: creates the (empty) new top file of a move; 409 when the VM's folder exists there already. */
export async function createMoveTarget(store: Inventory, move: StorageMove): Promise<void> {
  const ds = await store.datastores.get(move.targetDatastoreId);
  if (!ds) throw notFound("datastore", move.targetDatastoreId, "target_datastore_id");
  await ensureLayout(ds.path);
  if (await fs.stat(move.newHomeDir).then(() => true, () => false)) throw conflict(`${move.newHomeDir} already exists on datastore ${ds.id}`, "target_datastore_id");
  await fs.mkdir(move.newHomeDir, { recursive: true });
  try {
    if (move.backingPath) await createOverlay(move.newPath, { backingPath: move.backingPath, sizeBytes: move.virtualSizeBytes });
    else await createImage(move.newPath, { sizeBytes: move.virtualSizeBytes });
  } catch (err) {
    await removeOwnedTree(engineDir(ds.path), move.newHomeDir);
    throw err;
  }
}

/** Removes the new folder of a move that did not happen, unless the VM's record names it. */
export async function removeMoveTarget(store: Inventory, vmId: string, move: StorageMove): Promise<void> {
  if ((await store.vms.get(vmId))?.homeDir === move.newHomeDir) return;
  await removeFromDatastore(store, move.newHomeDir);
}

/** A free TCP port on `host` for the target's NBD server (QEMU 7.2 cannot report one it picked itself). */
export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}


/** Target side: serves node `disk0` writable over NBD on `host` (exporting it also activates the node, so it takes writes while the QEMU still waits for the migration). */
export async function exportTargetDisk(qmp: QmpClient, host: string): Promise<NbdEndpoint> {
  const port = await freePort(host);
  await qmp.executeUntyped("nbd-server-start", { addr: { type: "inet", data: { host, port: String(port) } } });
  await qmp.executeUntyped("block-export-add", { type: "nbd", id: TARGET_EXPORT_ID, "node-name": "disk0", name: TARGET_EXPORT_ID, writable: true });
  return { host, port, export: TARGET_EXPORT_ID };
}

/** Target side, after the switch-over: stops serving the disk. */
export async function unexportTargetDisk(qmp: QmpClient): Promise<void> {
  await qmp.executeUntyped("block-export-del", { id: TARGET_EXPORT_ID }).catch(() => undefined);
  await qmp.executeUntyped("nbd-server-stop").catch(() => undefined);
}

/** Source side: mirrors `disk0` into the target's NBD export and waits for READY; answers the bytes the job covered. */
export async function startMirror(qmp: QmpClient, nbd: NbdEndpoint, move: StorageMove, opts: { signal?: AbortSignal; onStarted?: () => Promise<void> | void } = {}): Promise<{ bytes: number }> {
  await qmp.execute("blockdev-add", {
    driver: "nbd",
    "node-name": MIRROR_TARGET_NODE,
    server: { type: "inet", host: nbd.host, port: String(nbd.port) },
    export: nbd.export,
  } as never);
  // top: only the VM's own layer is copied; the new file already has the same backing layer.
  // The disk's top by node name: after a live snapshot it is no longer the `disk0` the VM started with.
  const [top] = await liveDiskChain(qmp);
  await qmp.execute("blockdev-mirror", { "job-id": MIRROR_JOB_ID, device: top.node, target: MIRROR_TARGET_NODE, sync: move.backingPath ? "top" : "full" });
  await opts.onStarted?.();
  const job = await pollUntil(
    "the disk mirror to be ready",
    async () => {
      const j = (await qmp.execute("query-block-jobs")).find((x) => x.device === MIRROR_JOB_ID);
      if (!j) throw new Error("the disk mirror ended before it was ready (its target went away)");
      if (j.error) throw new Error(`the disk mirror failed: ${j.error}`);
      return j.ready ? j : undefined;
    },
    { timeoutMs: MIRROR_READY_TIMEOUT_MS, intervalMs: 20, signal: opts.signal },
  );
  return { bytes: job.len };
}

/**
 * Source side, at the pause before the switch-over (guest stopped): ends the READY mirror so
 * both copies are identical, and drops the NBD client node; throws when the mirror failed.
 */
export async function finishMirror(qmp: QmpClient): Promise<void> {
  const events = qmp.listen(["BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR"]);
  try {
    // On a READY mirror, cancel is QEMU's "complete without switching to the copy".
    await qmp.execute("block-job-cancel", { device: MIRROR_JOB_ID });
    for (;;) {
      const e = (await events.next({ timeoutMs: 30_000 })) as { event: string; data: { device?: string; error?: string } };
      if (e.data.device !== MIRROR_JOB_ID) continue;
      if (e.event === "BLOCK_JOB_COMPLETED" && !e.data.error) break;
      throw new Error(`the disk mirror did not finish cleanly (${e.event}${e.data.error ? `: ${e.data.error}` : ""})`);
    }
  } finally {
    events.close();
  }
  await qmp.execute("blockdev-del", { "node-name": MIRROR_TARGET_NODE });
}

/** Source side, after a failure: stops the mirror if it runs and drops the NBD client node. */
export async function abandonMirror(qmp: QmpClient): Promise<void> {
  await qmp.execute("block-job-cancel", { device: MIRROR_JOB_ID, force: true }).catch(() => undefined);
  await pollUntil("the disk mirror to end", async () => !(await qmp.execute("query-block-jobs")).some((j) => j.device === MIRROR_JOB_ID) || undefined, {
    timeoutMs: 10_000,
    intervalMs: 20,
  }).catch(() => undefined);
  await qmp.execute("blockdev-del", { "node-name": MIRROR_TARGET_NODE }).catch(() => undefined);
  await setMigrationCapabilities(qmp, { "pause-before-switchover": false }).catch(() => undefined);
}

/**
 * Source side: migrates to `uri` pausing before the switch-over, runs `beforeSwitch` there
 * (guest stopped), lets the switch-over go on and waits until the migration completed;
 * throws when it failed (QEMU runs a source whose migration failed on), cancelling it first
 * when `beforeSwitch` threw or the deadline passed.
 */
export async function migrateWithSwitchover(
  qmp: QmpClient,
  uri: string,
  opts: { timeoutMs: number; signal?: AbortSignal; parameters: MigrationParameters; beforeSwitch: () => Promise<void> },
): Promise<MigrationInfo> {
  await setMigrationCapabilities(qmp, { events: true, "x-ignore-shared": false, "pause-before-switchover": true });
  await setMigrationParameters(qmp, opts.parameters);
  const deadline = Date.now() + opts.timeoutMs;
  await qmp.execute("migrate", { uri });
  try {
    let switched = false;
    for (;;) {
      if (opts.signal?.aborted) throw new Error("the migration was cancelled");
      if (Date.now() > deadline) throw new Error(`the migration did not complete within ${opts.timeoutMs} ms`);
      const info = await qmp.execute("query-migrate");
      if (info.status === "completed" && info["total-time"]) return info;
      if (info.status === "failed" || info.status === "cancelled") throw new Error(`migration ${info.status}${info["error-desc"] ? `: ${info["error-desc"]}` : ""}`);
      if (info.status === "pre-switchover" && !switched) {
        await opts.beforeSwitch();
        switched = true;
        await qmp.execute("migrate-continue", { state: "pre-switchover" });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } catch (err) {
    await qmp.execute("migrate_cancel").catch(() => undefined);
    throw err;
  } finally {
    await setMigrationCapabilities(qmp, { "pause-before-switchover": false }).catch(() => undefined);
  }
}

/**
 * Moves the records with the disk, in the caller's transaction: a new layer record for the new
 * file (a fresh content ID: the target QEMU writes it), the VM's datastore, folder and disk
 * layer pointing at it, the old layer record gone.
 */
export async function applyStorageMoveRecords(s: Inventory, vmId: string, move: StorageMove): Promise<DiskLayer> {
  const old = await s.layers.get(move.oldLayerId);
  const layer: DiskLayer = {
    id: newId("layer"),
    datastoreId: move.targetDatastoreId,
    path: move.newPath,
    format: "qcow2",
    virtualSizeBytes: move.virtualSizeBytes,
    contentId: newContentId(),
    parentContentId: old?.parentContentId ?? (move.backingPath ? ((await s.layers.findByPath(move.backingPath))?.contentId ?? null) : null),
    backingPath: move.backingPath,
    ownerKind: old?.ownerKind ?? "vm",
    ownerId: old?.ownerId ?? vmId,
    state: "ready",
    createdAt: nowIso(),
  };
  await s.layers.insert(layer);
  await s.vms.update(vmId, { datastoreId: move.targetDatastoreId, homeDir: move.newHomeDir, diskLayerId: layer.id });
  if (old) await s.layers.delete(old.id);
  return layer;
}

/** After the records moved and the source QEMU quit: removes the old file (and its folder when empty) and rewrites both catalogs. */
export async function cleanUpStorageMove(store: Inventory, move: StorageMove): Promise<void> {
  await fs.rm(move.oldPath, { force: true });
  await fs.rmdir(move.oldHomeDir).catch(() => undefined);
  await syncCatalog(store, move.sourceDatastoreId);
  await syncCatalog(store, move.targetDatastoreId);
}
