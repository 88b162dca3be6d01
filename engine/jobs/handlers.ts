import { conflict } from "../errors";
import {
  admitReplicaCreate,
  admitReplicaRepair,
  CREATE_REPLICA_KIND,
  createReplica,
  getReplicaView,
  recoverReplication,
  REPAIR_REPLICA_KIND,
  repairReplica,
  type CreateReplicaRequest,
  type RepairReplicaRequest,
  type ReplicaView,
  admitTemplateName,
  getTemplateView,
  IMPORT_TEMPLATE_KIND,
  importTemplate,
  recoverTemplateImport,
  type ImportTemplateRequest,
  type TemplateView,
} from "../ops";
import type { JobHandler } from "./handler";
import { applyFleetHandler, createVmHandler, forkVmHandler } from "./clone-handlers";
import { backupVmHandler, createSnapshotHandler, deleteSnapshotHandler } from "./snapshot-handlers";
import { createParentHandler, deleteParentHandler, instantCloneHandler, updateParentHandler } from "./instant-clone-handlers";
import { migrateVmHandler } from "./migrate-handler";
import { abortMigrationHandler, activateMigrationHandler, completeMigrationHandler, incomingMigrationHandler } from "./migration-step-handlers";
import { deleteVmHandler, startVmHandler, stopVmHandler } from "./vm-lifecycle-handlers";
import { deleteFleetHandler, deleteTemplateHandler, registerDiskHandler, rescanCatalogHandler } from "./inventory-handlers";
import { createDatastoreHandler, createPoolHandler, deleteDatastoreHandler, deletePoolHandler, deleteReplicaHandler, resizePoolHandler, updateVmHandler } from "./storage-handlers";

/** `template.import`: one template from a disk image. */
export const importTemplateHandler: JobHandler<ImportTemplateRequest, TemplateView> = {
  kind: IMPORT_TEMPLATE_KIND,
  admit: async (store, req) => {
    if (!(await store.datastores.get(req.datastoreId))) throw conflict(`datastore ${req.datastoreId} was removed`, "datastore_id");
    await admitTemplateName(store, req);
  },
  run: async (ctx, req) => {
    const view = await importTemplate(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, _req, intent) => {
    const { finished } = await recoverTemplateImport(ctx, intent);
    if (finished) return { outcome: "finished", result: await getTemplateView(ctx.store, finished.id), targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped during the import; every file it made was removed" };
  },
};

/** `replica.create`: a chain replicated onto another datastore by content ID (S7). */
export const createReplicaHandler: JobHandler<CreateReplicaRequest, ReplicaView> = {
  kind: CREATE_REPLICA_KIND,
  admit: (store, req) => admitReplicaCreate(store, req),
  run: async (ctx, req) => {
    const view = await createReplica(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, _req, intent) => {
    const { finished } = await recoverReplication(ctx, intent);
    if (finished) return { outcome: "finished", result: await getReplicaView(ctx.store, finished.id), targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped during the replication; every file it made was removed" };
  },
};

/** `replica.repair`: copies again only what a replica relies on and lost. */
export const repairReplicaHandler: JobHandler<RepairReplicaRequest, ReplicaView> = {
  kind: REPAIR_REPLICA_KIND,
  admit: (store, req) => admitReplicaRepair(store, req),
  run: async (ctx, req) => {
    const view = await repairReplica(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, _req, intent) => {
    const { finished } = await recoverReplication(ctx, intent);
    if (finished) return { outcome: "finished", result: await getReplicaView(ctx.store, finished.id), targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped during the repair; the files it was making were removed" };
  },
};

/** Every job kind the engine runs. */
export const allHandlers: JobHandler[] = [
  importTemplateHandler as JobHandler,
  createReplicaHandler as JobHandler,
  repairReplicaHandler as JobHandler,
  applyFleetHandler as JobHandler,
  createVmHandler as JobHandler,
  forkVmHandler as JobHandler,
  createSnapshotHandler as JobHandler,
  deleteSnapshotHandler as JobHandler,
  backupVmHandler as JobHandler,
  createParentHandler as JobHandler,
  instantCloneHandler as JobHandler,
  deleteParentHandler as JobHandler,
  updateParentHandler as JobHandler,
  migrateVmHandler as JobHandler,
  startVmHandler as JobHandler,
  stopVmHandler as JobHandler,
  deleteVmHandler as JobHandler,
  deleteTemplateHandler as JobHandler,
  deleteFleetHandler as JobHandler,
  registerDiskHandler as JobHandler,
  rescanCatalogHandler as JobHandler,
  createDatastoreHandler as JobHandler,
  deleteDatastoreHandler as JobHandler,
  createPoolHandler as JobHandler,
  resizePoolHandler as JobHandler,
  deletePoolHandler as JobHandler,
  deleteReplicaHandler as JobHandler,
  updateVmHandler as JobHandler,
  incomingMigrationHandler as JobHandler,
  activateMigrationHandler as JobHandler,
  abortMigrationHandler as JobHandler,
  completeMigrationHandler as JobHandler,
];
