import type { ApiToken, Datastore, DiskLayer, Fleet, Host, InstantCloneParent, Job, JobState, Pool, PoolCopy, RecordState, Replica, Snapshot, Template, Vm } from "../model";
import type { SqlDialect } from "./sql/driver";

/**
 * Store v2: the inventory as small asynchronous interfaces, one per aggregate, over SQLite (the
 * embedded default) or PostgreSQL (many engines, many hosts). Lookups resolve to `null` for an
 * unknown id; writes reject with `StoreConstraintError` naming the column; updates and deletes
 * of an unknown id do nothing. Inside `tx` every call runs in one transaction.
 */
export interface Inventory {
  readonly dialect: SqlDialect;
  /** Where the inventory lives, without any password. */
  readonly location: string;
  readonly datastores: DatastoreRecords;
  readonly layers: LayerRecords;
  readonly templates: TemplateRecords;
  readonly replicas: ReplicaRecords;
  readonly pools: PoolRecords;
  readonly fleets: FleetRecords;
  readonly vms: VmRecords;
  readonly parents: ParentRecords;
  readonly snapshots: SnapshotRecords;
  readonly hosts: HostRecords;
  readonly jobs: JobRecords;
  readonly tokens: ApiTokenRecords;
  readonly settings: SettingRecords;
  /** Runs `fn` in one transaction; a throw rolls back everything it wrote. Use only the inventory it is given. */
  tx<T>(fn: (inv: Inventory) => Promise<T>): Promise<T>;
  /**
   * Inside `tx`: waits until no other transaction holds `name`, then holds it until this one
   * ends — on PostgreSQL across every engine sharing the database (fleet applies, pool hand-outs).
   */
  lock(name: string): Promise<void>;
  /**
   * Outside any transaction: waits until no one holds `name`, then holds it across
   * transactions until the returned function is called — on PostgreSQL for every engine on the
   * database (a dead engine's hold ends with its connection); on SQLite within this process.
   * For work that spans transactions and must not run twice at once (a fleet's apply).
   */
  hold(name: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface DatastoreRecords {
  insert(ds: Datastore): Promise<void>;
  get(id: string): Promise<Datastore | null>;
  findByName(name: string): Promise<Datastore | null>;
  /** By name. */
  list(): Promise<Datastore[]>;
  delete(id: string): Promise<void>;
}

export type LayerPatch = Partial<Pick<DiskLayer, "contentId" | "parentContentId" | "backingPath" | "path" | "state" | "virtualSizeBytes">>;

export interface LayerRecords {
  insert(layer: DiskLayer): Promise<void>;
  get(id: string): Promise<DiskLayer | null>;
  /** The layers of `ids` that exist, in no particular order: one statement for a batch instead of one per id. */
  getMany(ids: readonly string[]): Promise<DiskLayer[]>;
  findByPath(path: string): Promise<DiskLayer | null>;
  /** Oldest first. */
  findByContentId(contentId: string): Promise<DiskLayer[]>;
  /** Oldest first; every filter given must match. */
  list(filter?: { datastoreId?: string; ownerKind?: DiskLayer["ownerKind"]; ownerId?: string }): Promise<DiskLayer[]>;
  update(id: string, patch: LayerPatch): Promise<void>;
  /** Gives a layer a new path and owner (a pool copy's file renamed into a VM's home). */
  transfer(id: string, to: { path: string; ownerKind: DiskLayer["ownerKind"]; ownerId: string }): Promise<void>;
  delete(id: string): Promise<void>;
}

export interface TemplateRecords {
  insert(t: Template): Promise<void>;
  get(id: string): Promise<Template | null>;
  findByName(name: string): Promise<Template | null>;
  /** By name. */
  list(filter?: { datastoreId?: string }): Promise<Template[]>;
  setState(id: string, state: RecordState): Promise<void>;
  delete(id: string): Promise<void>;
}

export type ReplicaPatch = Partial<
  Pick<Replica, "sourcePath" | "topLayerId" | "diskPath" | "layersCopied" | "layersReused" | "bytesCopied" | "layers" | "lastRun" | "state" | "updatedAt">
>;

export interface ReplicaRecords {
  /** The replica and its layer list. */
  insert(r: Replica): Promise<void>;
  get(id: string): Promise<Replica | null>;
  /** Oldest first. */
  list(filter?: { targetDatastoreId?: string }): Promise<Replica[]>;
  /** Replicas whose chain on the target includes `path` (as a copied or a reused layer). */
  findUsingPath(path: string): Promise<Replica[]>;
  /** A patch with `layers` replaces the whole layer list. */
  update(id: string, patch: ReplicaPatch): Promise<void>;
  /** The replica and its layer list (not the DiskLayer records of its copies). */
  delete(id: string): Promise<void>;
}

export type PoolPatch = Partial<Pick<Pool, "size" | "lastError" | "failures" | "retryAt">>;

export interface PoolRecords {
  insert(p: Pool): Promise<void>;
  get(id: string): Promise<Pool | null>;
  find(templateId: string, datastoreId: string): Promise<Pool | null>;
  /** Oldest first. */
  list(filter?: { templateId?: string; datastoreId?: string }): Promise<Pool[]>;
  update(id: string, patch: PoolPatch): Promise<void>;
  delete(id: string): Promise<void>;
  insertCopy(c: PoolCopy): Promise<void>;
  /** Oldest first. */
  listCopies(poolId: string): Promise<PoolCopy[]>;
  deleteCopy(layerId: string): Promise<void>;
  /**
   * Removes and returns the pool's oldest ready copy, or null when none is left. Two callers —
   * in two engines on one PostgreSQL — never get the same copy: a copy another transaction is
   * taking is skipped, not waited for.
   */
  takeOldestCopy(poolId: string): Promise<PoolCopy | null>;
}

export type FleetPatch = Partial<Pick<Fleet, "size" | "datastoreIds" | "cloneMode" | "powerState" | "updatedAt" | "hostIds">>;

export interface FleetRecords {
  insert(f: Fleet): Promise<void>;
  get(id: string): Promise<Fleet | null>;
  findByNamePrefix(namePrefix: string): Promise<Fleet | null>;
  /** By name prefix. */
  list(filter?: { templateId?: string }): Promise<Fleet[]>;
  update(id: string, patch: FleetPatch): Promise<void>;
  delete(id: string): Promise<void>;
}

export type VmPatch = Partial<
  Pick<
    Vm,
    | "state"
    | "powerState"
    | "diskLayerId"
    | "datastoreId"
    | "homeDir"
    | "accel"
    | "accelOverride"
    | "pid"
    | "stateDir"
    | "stunMs"
    | "crashed"
    | "machine"
    | "stopTimeoutSeconds"
    | "hostId"
    | "migrationNotifyTimeoutSeconds"
    | "migrationOnMissingAck"
    | "haRestart"
  >
>;

export interface VmRecords {
  insert(vm: Vm): Promise<void>;
  get(id: string): Promise<Vm | null>;
  findByName(name: string): Promise<Vm | null>;
  /** The names of every VM whose name starts with `prefix` (taken literally: `_` and `%` are no wildcards). */
  namesStartingWith(prefix: string): Promise<string[]>;
  /** By name; every filter given must match. */
  list(filter?: { fleetId?: string; datastoreId?: string; templateId?: string; instantCloneOf?: string; hostId?: string }): Promise<Vm[]>;
  update(id: string, patch: VmPatch): Promise<void>;
  delete(id: string): Promise<void>;
}

export interface ParentRecords {
  insert(p: InstantCloneParent): Promise<void>;
  get(id: string): Promise<InstantCloneParent | null>;
  findByName(name: string): Promise<InstantCloneParent | null>;
  /** By name. */
  list(filter?: { datastoreId?: string }): Promise<InstantCloneParent[]>;
  update(id: string, patch: Partial<Pick<InstantCloneParent, "state" | "warmCount">>): Promise<void>;
  delete(id: string): Promise<void>;
}

export interface SnapshotRecords {
  insert(snap: Snapshot): Promise<void>;
  get(id: string): Promise<Snapshot | null>;
  /** Oldest first. */
  list(filter?: { vmId?: string }): Promise<Snapshot[]>;
  update(id: string, patch: Partial<Pick<Snapshot, "layerId" | "state">>): Promise<void>;
  delete(id: string): Promise<void>;
}

export type HostPatch = Partial<Pick<Host, "apiUrl" | "pid" | "stateDir" | "vmStateRoot" | "lastHeartbeatAt" | "status" | "downReason" | "startedAt" | "tokenHash">>;

export interface HostRecords {
  /** Records a host, or refreshes an existing one (its creation time stays). */
  upsert(h: Host): Promise<void>;
  get(id: string): Promise<Host | null>;
  /** By name. */
  list(): Promise<Host[]>;
  update(id: string, patch: HostPatch): Promise<void>;
}

export type JobPatch = Partial<Pick<Job, "state" | "progress" | "intent" | "result" | "error" | "targetId" | "cancelRequested" | "startedAt" | "finishedAt">>;

/** Who runs a job and until when its claim holds unless renewed. */
export interface JobLease {
  owner: string;
  expiresAt: string;
}

export interface JobRecords {
  /** Rejects with `StoreConstraintError` on `idempotency_key` when the key is taken. */
  insert(job: Job): Promise<void>;
  get(id: string): Promise<Job | null>;
  findByIdempotencyKey(key: string): Promise<Job | null>;
  /** Newest first; `states` filters when given. */
  list(filter?: { states?: JobState[]; limit?: number }): Promise<Job[]>;
  update(id: string, patch: JobPatch): Promise<void>;
  /**
   * Claims the oldest job of `hostId` that is queued, or running under a lease that expired at
   * `now` (its engine died): it becomes `owner`'s until `now + leaseMs`. Many runners on one
   * PostgreSQL claim at once without ever sharing a job. Null when there is nothing to run.
   */
  claim(hostId: string, owner: string, leaseMs: number, now?: Date): Promise<{ job: Job; lease: JobLease; recovered: boolean } | null>;
  /** Starts a job that is still queued: it becomes running under `owner`'s lease. False when it is not queued any more. */
  start(jobId: string, owner: string, leaseMs: number, now?: Date): Promise<boolean>;
  /** Extends `owner`'s lease; false when the lease is no longer `owner`'s (another runner recovered the job). */
  renew(jobId: string, owner: string, leaseMs: number, now?: Date): Promise<boolean>;
  /** Ends `owner`'s lease (the job finished); a lease held by another owner is left alone. */
  release(jobId: string, owner: string): Promise<void>;
  /** Applies a terminal patch and, in the same statement, releases the lease when `owner` still holds it. */
  finish(jobId: string, patch: JobPatch, owner: string): Promise<void>;
  lease(jobId: string): Promise<JobLease | null>;
}

/** API tokens besides the engine's own (read-only scopes); only their hash is stored. */
export interface ApiTokenRecords {
  insert(t: ApiToken): Promise<void>;
  findByHash(tokenHash: string): Promise<ApiToken | null>;
  /** Oldest first. */
  list(): Promise<ApiToken[]>;
  delete(id: string): Promise<void>;
}

export interface SettingRecords {
  get(key: string): Promise<string | null>;
  set(key: string, value: string): Promise<void>;
}
