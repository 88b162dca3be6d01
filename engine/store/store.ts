import type { Datastore, DiskLayer, Job, JobError, JobProgress, JobState, RecordState, Replica, Template } from "../model";
import type { Fleet, InstantCloneParent, Pool, PoolCopy, Snapshot, Vm } from "../model";
import type { ApiToken, Host } from "../model";

/**
 * The inventory, behind one interface so that a PostgreSQL store can stand in for SQLite.
 * Every write happens inside `tx()`; reads may happen outside. Lookups return `null` for an
 * unknown id (callers turn that into `notFound`); writes throw on constraint violations with
 * a `StoreConstraintError` naming the column.
 */
export interface Store {
  /** Runs `fn` in one transaction; a throw rolls back everything it wrote. */
  tx<T>(fn: (s: Store) => T): T;
  close(): void;

  // datastores
  insertDatastore(ds: Datastore): void;
  getDatastore(id: string): Datastore | null;
  findDatastoreByName(name: string): Datastore | null;
  listDatastores(): Datastore[];
  deleteDatastore(id: string): void;

  // disk layers
  insertLayer(layer: DiskLayer): void;
  getLayer(id: string): DiskLayer | null;
  findLayerByPath(path: string): DiskLayer | null;
  findLayersByContentId(contentId: string): DiskLayer[];
  listLayers(filter?: { datastoreId?: string; ownerKind?: DiskLayer["ownerKind"]; ownerId?: string }): DiskLayer[];
  updateLayer(id: string, patch: Partial<Pick<DiskLayer, "contentId" | "parentContentId" | "backingPath" | "path" | "state" | "virtualSizeBytes">>): void;
  deleteLayer(id: string): void;

  // templates
  insertTemplate(t: Template): void;
  getTemplate(id: string): Template | null;
  findTemplateByName(name: string): Template | null;
  listTemplates(filter?: { datastoreId?: string }): Template[];
  setTemplateState(id: string, state: RecordState): void;
  deleteTemplate(id: string): void;

  // replicas (S7); a replica's layers are stored and replaced with it
  insertReplica(r: Replica): void;
  getReplica(id: string): Replica | null;
  listReplicas(filter?: { targetDatastoreId?: string }): Replica[];
  /** Replicas whose chain on the target includes `path` (as a copied or a reused layer). */
  findReplicasUsingPath(path: string): Replica[];
  updateReplica(
    id: string,
    patch: Partial<Pick<Replica, "sourcePath" | "topLayerId" | "diskPath" | "layersCopied" | "layersReused" | "bytesCopied" | "layers" | "lastRun" | "state" | "updatedAt">>,
  ): void;
  /** Deletes the replica and its layer list (not the DiskLayer records of its copies). */
  deleteReplica(id: string): void;

  // disk pools (S1); a pool copy's file is a disk layer owned by its pool
  insertPool(p: Pool): void;
  getPool(id: string): Pool | null;
  findPool(templateId: string, datastoreId: string): Pool | null;
  listPools(filter?: { templateId?: string; datastoreId?: string }): Pool[];
  updatePool(id: string, patch: Partial<Pick<Pool, "size" | "lastError" | "failures" | "retryAt">>): void;
  deletePool(id: string): void;
  insertPoolCopy(c: PoolCopy): void;
  /** Oldest first, so the copies made longest ago are handed out first. */
  listPoolCopies(poolId: string): PoolCopy[];
  deletePoolCopy(layerId: string): void;
  /** Gives a layer a new path and owner: a pool copy's file renamed into a VM's home by the caller in the same step. */
  transferLayer(id: string, to: { path: string; ownerKind: DiskLayer["ownerKind"]; ownerId: string }): void;

  // fleets (S1)
  insertFleet(f: Fleet): void;
  getFleet(id: string): Fleet | null;
  findFleetByNamePrefix(namePrefix: string): Fleet | null;
  listFleets(filter?: { templateId?: string }): Fleet[];
  updateFleet(id: string, patch: Partial<Pick<Fleet, "size" | "datastoreIds" | "cloneMode" | "powerState" | "updatedAt">>): void;
  deleteFleet(id: string): void;

  // VMs
  insertVm(vm: Vm): void;
  getVm(id: string): Vm | null;
  findVmByName(name: string): Vm | null;
  /** By name; every filter given must match. */
  listVms(filter?: { fleetId?: string; datastoreId?: string; templateId?: string; instantCloneOf?: string }): Vm[];
  updateVm(id: string, patch: Partial<Pick<Vm, "state" | "powerState" | "diskLayerId" | "datastoreId" | "homeDir" | "accel" | "accelOverride" | "pid" | "stateDir" | "stunMs" | "crashed" | "machine" | "stopTimeoutSeconds" | "hostId" | "migrationNotifyTimeoutSeconds" | "migrationOnMissingAck">>): void;
  deleteVm(id: string): void;

  // instant-clone parents (S3); the frozen top layer is a DiskLayer owned by the parent
  insertParent(p: InstantCloneParent): void;
  getParent(id: string): InstantCloneParent | null;
  findParentByName(name: string): InstantCloneParent | null;
  /** By name. */
  listParents(filter?: { datastoreId?: string }): InstantCloneParent[];
  updateParent(id: string, patch: Partial<Pick<InstantCloneParent, "state" | "warmCount">>): void;
  deleteParent(id: string): void;

  // hosts (S6): one per engine agent sharing this inventory
  /** Records a host, or refreshes an existing one's address, process and status (its creation time stays). */
  upsertHost(h: Host): void;
  getHost(id: string): Host | null;
  /** By name. */
  listHosts(): Host[];
  updateHost(id: string, patch: Partial<Pick<Host, "apiUrl" | "pid" | "stateDir" | "vmStateRoot" | "lastHeartbeatAt" | "status" | "downReason" | "startedAt">>): void;

  // snapshots (S4); the frozen layer is a DiskLayer owned by the snapshot
  insertSnapshot(snap: Snapshot): void;
  getSnapshot(id: string): Snapshot | null;
  /** Oldest first. */
  listSnapshots(filter?: { vmId?: string }): Snapshot[];
  updateSnapshot(id: string, patch: Partial<Pick<Snapshot, "layerId" | "state">>): void;
  deleteSnapshot(id: string): void;

  // jobs
  insertJob(job: Job): void;
  getJob(id: string): Job | null;
  findJobByIdempotencyKey(key: string): Job | null;
  /** Newest first; `states` filters when given. */
  listJobs(filter?: { states?: JobState[]; limit?: number }): Job[];
  updateJob(
    id: string,
    patch: Partial<Pick<Job, "state" | "progress" | "intent" | "result" | "error" | "targetId" | "cancelRequested" | "startedAt" | "finishedAt">>,
  ): void;

  // API tokens besides the engine's own (read-only scopes); only their hash is stored
  insertApiToken(t: ApiToken): void;
  findApiTokenByHash(tokenHash: string): ApiToken | null;
  /** Oldest first. */
  listApiTokens(): ApiToken[];
  deleteApiToken(id: string): void;

  // engine settings (small key/value facts such as the schema version or host name)
  getSetting(key: string): string | null;
  setSetting(key: string, value: string): void;
}

/** A unique or foreign-key constraint refused a write. */
export class StoreConstraintError extends Error {
  constructor(
    message: string,
    /** The column that clashed, when known (e.g. `name`). */
    readonly column?: string,
  ) {
    super(message);
    this.name = "StoreConstraintError";
  }
}

export type { JobError, JobProgress };
