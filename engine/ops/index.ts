/**
 * The public surface of the ops: what jobs, the API, the CLI and the tests may call. Each name is
 * listed on purpose (no `export *`), so an op's inner helpers stay inside this folder.
 */
export { directContext, type EngineSettings } from "./context";
export { type AddDatastoreRequest, checkDatastoreAdd, checkDatastoreRemove, datastoreHostOf, datastoreReach, datastoreVisibleFrom, type DatastoreStatus, getDatastore, listDatastores } from "./datastore";
export { admitTemplateName, checkTemplateDelete, getTemplateView, IMPORT_TEMPLATE_KIND, importTemplate, type ImportTemplateRequest, listTemplateViews, recoverTemplateImport, refreshTemplateViews, type TemplateView, validateTemplateImport } from "./template";
export { type ChainLayerView, describeChain } from "./disk-chain";
export { reconcileDatastores, type ReconcileReport } from "./reconcile";
export { flushDeferredCatalogSyncs } from "./catalog-sync";
export { admitReplicaCreate, admitReplicaRepair, CREATE_REPLICA_KIND, createReplica, type CreateReplicaRequest, checkReplicaDelete, getReplicaView, listReplicaViews, recoverReplication, REPAIR_REPLICA_KIND, repairReplica, type RepairReplicaRequest, type ReplicaView, validateReplicaCreate } from "./replicate";
export { checkDiskRegister, type RegisterDiskRequest, type RegisterDiskResult } from "./disk-register";
export { type CatalogRescanReport } from "./catalog-rescan";
export { checkPoolDelete, checkPoolRequest, checkPoolResize, type CreatePoolRequest, getPoolView, listPoolViews, type PoolView, type PoolFillStatus } from "./pool";
export { PoolRefill, type PoolRefillOptions } from "./pool-refill";
export { admitVmName, checkVmDelete, checkVmRequest, cloneHostOf, CREATE_VM_KIND, createVm, createVmHost, type CreateVmRequest, recoverVmCreate } from "./vm";
export { getVmView, listVmViews, type ViewPoint, type VmView } from "./vm-view";
export { admitFleetApply, APPLY_FLEET_KIND, applyFleet, type ApplyFleetRequest, fleetApplyHost, fleetHostOf, type ApplyFleetResult, checkFleetDelete, declareFleet, type FleetSpec, type FleetView, getFleetView, listFleetViews, recoverFleetApply, redeclareFleet } from "./fleet";
export { ramFolderOf } from "./guest-ram";
export { checkVmStart, checkVmStop, livePid, reconcileVmRuntime, type StartVmRequest, type StopVmRequest, type VmRuntimeReport } from "./vm-power";
export { admitForkName, checkForkRequest, FORK_VM_KIND, forkVm, type ForkVmRequest, type ForkVmResult, recoverVmFork } from "./vm-fork";
export { checkVmSettings, type UpdateVmSettingsRequest } from "./vm-settings";
export { admitSnapshotCreate, admitSnapshotDelete, BACKUP_VM_KIND, type BackupVmRequest, type BackupVmResult, checkBackupRequest, checkBackupTarget, checkSnapshotCreate, CREATE_SNAPSHOT_KIND, type CreateSnapshotRequest, DELETE_SNAPSHOT_KIND, type DeleteSnapshotRequest, type DeleteSnapshotResult, getSnapshotView, listSnapshotViews, type SnapshotView } from "./snapshot";
export { createSnapshot, recoverSnapshotCreate } from "./snapshot-create";
export { deleteSnapshot, recoverSnapshotDelete } from "./snapshot-consolidate";
export { backupVm, recoverBackup } from "./snapshot-backup";
export { defaultParentTmpfsDir, mapBounded } from "./instant-clone-plan";
export { admitParentName, checkParentCreate, CREATE_PARENT_KIND, createParent, type CreateParentRequest, recoverParentCreate } from "./parent-capture";
export { checkInstantClone, INSTANT_CLONE_KIND, instantClone, type InstantCloneRequest, type InstantCloneResult, recoverInstantClone } from "./instant-clone";
export type { WarmChild, WarmChildSource } from "./instant-clone-child";
export { checkParentDelete, checkParentUpdate, DELETE_PARENT_KIND, deleteParent, type DeleteParentRequest, getParentView, listParentViews, type ParentReconcileReport, type ParentView, reconcileParents, recoverParentDelete, recoverParentUpdate, UPDATE_PARENT_KIND, updateParent, type UpdateParentRequest } from "./parent-lifecycle";
export { admitHost, checkHostName, checkHostUp, DEFAULT_HEARTBEAT_INTERVAL_MS, getHostView, HostMonitor, type HostView, judgeHostStatus, listHostViews, MISSED_HEARTBEATS_FOR_DOWN, otherHostsUp, vmStateRootFor } from "./hosts";
export { type HaRestartReport, restartLostHostVms } from "./ha-restart";
export { admitMigration, checkMigrateRequest, MIGRATE_VM_KIND, migrateVm, type MigrateVmRequest, type MigrateVmResult, migrationHost, type MigrationStep, recoverMigration } from "./migrate-source";
export { ABORT_MIGRATION_KIND, abortIncoming, ACTIVATE_MIGRATION_KIND, activateIncoming, admitIncoming, checkAbort, checkCompletion, checkIncoming, checkTargetDir, COMPLETE_MIGRATION_KIND, INCOMING_MIGRATION_KIND, prepareIncoming, recoverAbort, recoverActivate, recoverCompletion, recoverIncoming, sendCompletion } from "./migrate-target";
export { WarmChildren, type WarmChildrenOptions } from "./warm-children";
export { DELETE_VM_KIND, type DeleteVmRequest, recoverVmDelete, recoverVmStart, recoverVmStop, runVmDelete, runVmStart, runVmStop, START_VM_KIND, STOP_VM_KIND } from "./vm-lifecycle";
export { DELETE_FLEET_KIND, DELETE_TEMPLATE_KIND, type RecordIdRequest, recoverCatalogRescan, recoverDiskRegister, recoverFleetDelete, recoverTemplateDelete, REGISTER_DISK_KIND, RESCAN_CATALOG_KIND, runCatalogRescan, runDiskRegister, runFleetDelete, runTemplateDelete } from "./inventory-jobs";
export {
  CREATE_DATASTORE_KIND,
  CREATE_POOL_KIND,
  DELETE_DATASTORE_KIND,
  DELETE_POOL_KIND,
  DELETE_REPLICA_KIND,
  recoverDatastoreAdd,
  recoverDatastoreRemove,
  recoverPoolCreate,
  recoverPoolDelete,
  recoverPoolResize,
  recoverReplicaDelete,
  recoverVmUpdate,
  RESIZE_POOL_KIND,
  type ResizePoolRequest,
  runDatastoreAdd,
  runDatastoreRemove,
  runPoolCreate,
  runPoolDelete,
  runPoolResize,
  runReplicaDelete,
  runVmUpdate,
  UPDATE_VM_KIND,
} from "./storage-jobs";
export { createApiToken, findApiToken, revokeApiToken } from "./api-tokens";
export { type DatastoreLayerView, listDatastoreLayers } from "./datastore-layers";
