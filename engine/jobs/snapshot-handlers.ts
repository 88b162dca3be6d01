import {
  admitSnapshotCreate,
  admitSnapshotDelete,
  backupVm,
  checkBackupRequest,
  BACKUP_VM_KIND,
  CREATE_SNAPSHOT_KIND,
  createSnapshot,
  DELETE_SNAPSHOT_KIND,
  deleteSnapshot,
  recoverBackup,
  recoverSnapshotCreate,
  recoverSnapshotDelete,
  type BackupVmRequest,
  type BackupVmResult,
  type CreateSnapshotRequest,
  type DeleteSnapshotRequest,
  type DeleteSnapshotResult,
  type SnapshotView,
} from "../ops";
import type { JobHandler } from "./handler";
import { hostOfVm } from "./migrate-handler";

/** `snapshot.create`: an external snapshot of a running or stopped VM (S4). */
export const createSnapshotHandler: JobHandler<CreateSnapshotRequest, SnapshotView> = {
  kind: CREATE_SNAPSHOT_KIND,
  admit: (store, req) => admitSnapshotCreate(store, req),
  hostFor: (store, req) => hostOfVm(store, req.vmId),
  run: async (ctx, req) => {
    const view = await createSnapshot(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, _req, intent) => {
    const { finished } = await recoverSnapshotCreate(ctx, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped while taking the snapshot; the new overlay was removed and the VM stays on its disk" };
  },
};

/** `snapshot.delete`: consolidation of a snapshot's layer, live or offline (S4). */
export const deleteSnapshotHandler: JobHandler<DeleteSnapshotRequest, DeleteSnapshotResult> = {
  kind: DELETE_SNAPSHOT_KIND,
  admit: (store, req) => admitSnapshotDelete(store, req),
  hostFor: async (store, req) => hostOfVm(store, (await store.snapshots.get(req.id))?.vmId),
  run: async (ctx, req) => ({ result: await deleteSnapshot(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverSnapshotDelete(ctx, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.id };
    return { outcome: "rolled-back", detail };
  },
};

/** `vm.backup`: snapshot, flattened copy of the frozen disk into a file, consolidation (S4). */
export const backupVmHandler: JobHandler<BackupVmRequest, BackupVmResult> = {
  kind: BACKUP_VM_KIND,
  admit: (store, req) => checkBackupRequest(store, req),
  hostFor: (store, req) => hostOfVm(store, req.vmId),
  run: async (ctx, req) => ({ result: await backupVm(ctx, req), targetId: req.vmId }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverBackup(ctx, req, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.vmId };
    return { outcome: "rolled-back", detail };
  },
};
