import Database from "better-sqlite3";
import { chmodSync, closeSync, constants as fsc, openSync } from "node:fs";
import type { Datastore, DiskLayer, Job, JobState, RecordState, Replica, ReplicaLayer, Template } from "../model";
import { migrate, schemaVersion } from "./migrate";
import { StoreConstraintError, type Store } from "./store";
import type { Fleet, InstantCloneParent, Pool, PoolCopy, Snapshot, Vm } from "../model";
import { parentRow, toParent, type ParentRow } from "./sqlite-parents";
import {
  FLEET_PATCH,
  fleetRow,
  POOL_PATCH,
  poolCopyRow,
  poolRow,
  toFleet,
  toPool,
  toPoolCopy,
  toVm,
  VM_PATCH,
  vmRow,
  type FleetRow,
  type PoolCopyRow,
  type PoolRow,
  type VmRow,
} from "./sqlite-clones";
import { HOST_PATCH, hostRow, toHost, type HostRow } from "./sqlite-hosts";
import type { ApiToken, Host } from "../model";
import { apiTokenRow, toApiToken, type ApiTokenRow } from "./sqlite-api-tokens";

interface SnapshotRow {
  id: string;
  vm_id: string;
  name: string;
  layer_id: string;
  state: string;
  created_at: string;
}

function toSnapshot(r: SnapshotRow): Snapshot {
  return { id: r.id, vmId: r.vm_id, name: r.name, layerId: r.layer_id, state: r.state as RecordState, createdAt: r.created_at };
}

type Row = Record<string, unknown>;
type Patch = Record<string, unknown>;

interface DatastoreRow {
  id: string;
  name: string;
  path: string;
  created_at: string;
}

interface LayerRow {
  id: string;
  datastore_id: string;
  path: string;
  format: string;
  virtual_size_bytes: number;
  content_id: string;
  parent_content_id: string | null;
  backing_path: string | null;
  owner_kind: string;
  owner_id: string;
  state: string;
  created_at: string;
}

interface TemplateRow {
  id: string;
  name: string;
  datastore_id: string;
  disk_layer_id: string;
  memory_mb: number;
  vcpus: number;
  source_path: string;
  kernel_source: string | null;
  initrd_source: string | null;
  kernel: string | null;
  initrd: string | null;
  cmdline: string | null;
  state: string;
  created_at: string;
}

interface ReplicaRow {
  id: string;
  source_kind: string;
  source_path: string;
  source_template_id: string | null;
  target_datastore_id: string;
  top_layer_id: string;
  disk_path: string;
  layers_copied: number;
  layers_reused: number;
  bytes_copied: number;
  last_run: string;
  state: string;
  created_at: string;
  updated_at: string;
}

interface ReplicaLayerRow {
  replica_id: string;
  position: number;
  path: string;
  content_id: string;
  parent_content_id: string | null;
  virtual_size_bytes: number;
  format: string;
  origin: string;
  layer_id: string | null;
  source_path: string;
}

interface JobRow {
  id: string;
  kind: string;
  state: string;
  progress: string;
  idempotency_key: string | null;
  request: string | null;
  intent: string | null;
  result: string | null;
  error: string | null;
  target_id: string | null;
  cancel_requested: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  host_id: string | null;
}

/** A foreign key as SQLite reports it: `table.column` references `parent.parentColumn`. */
interface ForeignKey {
  table: string;
  column: string;
  parent: string;
  parentColumn: string;
}

/** What the engine can see of the connection, for diagnostics. */
export interface SqliteConnectionInfo {
  file: string;
  journalMode: string;
  foreignKeys: boolean;
  busyTimeoutMs: number;
  synchronous: "off" | "normal" | "full" | "extra";
  schemaVersion: number;
}

// Patchable fields, camelCase → column and encoder. Anything else in a patch is ignored, so a
// whole record passed as a patch can never reach a column such as `id` or `created_at`.
const identity = (v: unknown): unknown => v;
const LAYER_PATCH: Record<string, [string, (v: unknown) => unknown]> = {
  contentId: ["content_id", identity],
  parentContentId: ["parent_content_id", identity],
  backingPath: ["backing_path", identity],
  path: ["path", identity],
  state: ["state", identity],
  virtualSizeBytes: ["virtual_size_bytes", identity],
};
const REPLICA_PATCH: Record<string, [string, (v: unknown) => unknown]> = {
  sourcePath: ["source_path", identity],
  topLayerId: ["top_layer_id", identity],
  diskPath: ["disk_path", identity],
  layersCopied: ["layers_copied", identity],
  layersReused: ["layers_reused", identity],
  bytesCopied: ["bytes_copied", identity],
  lastRun: ["last_run", (v) => JSON.stringify(v)],
  state: ["state", identity],
  updatedAt: ["updated_at", identity],
};
const JOB_PATCH: Record<string, [string, (v: unknown) => unknown]> = {
  state: ["state", identity],
  progress: ["progress", (v) => JSON.stringify(v)],
  intent: ["intent", encodeJson],
  result: ["result", encodeJson],
  error: ["error", encodeJson],
  targetId: ["target_id", identity],
  cancelRequested: ["cancel_requested", (v) => (v ? 1 : 0)],
  startedAt: ["started_at", identity],
  finishedAt: ["finished_at", identity],
};

/**
 * The SQLite inventory (get one from `openSqliteStore`): a write called outside `tx()` runs in a
 * transaction of its own so every write is atomic, updates and deletes of an unknown id do nothing,
 * and unique or foreign-key violations throw `StoreConstraintError` naming the column.
 */
export class SqliteStore implements Store {
  private readonly statements = new Map<string, Database.Statement>();
  private readonly foreignKeys: ForeignKey[];
  private readonly transact: <T>(fn: () => T) => T;

  /** Wraps an open, migrated connection; use `openSqliteStore` rather than calling this directly. */
  constructor(
    private readonly db: Database.Database,
    readonly file: string,
  ) {
    this.foreignKeys = readForeignKeys(db);
    const run = db.transaction((fn: () => unknown) => fn());
    // IMMEDIATE takes the write lock at BEGIN: every tx() here exists to write, and a deferred
    // transaction that reads first and then writes can hit SQLITE_BUSY without the busy timeout
    // helping when another connection wrote in between. Nested calls become savepoints.
    this.transact = <T>(fn: () => T): T => run.immediate(fn) as T;
  }

  /**
   * Runs `fn` in one transaction and returns its result; `fn` must be synchronous (a returned
   * promise rolls back and throws a TypeError). Inside another tx() it runs as a savepoint: a throw
   * undoes only this inner part and propagates, and the outer transaction decides whether to commit.
   */
  tx<T>(fn: (s: Store) => T): T {
    return this.transact(() => fn(this));
  }

  /** Closes the connection; later calls throw. Safe to call twice. */
  close(): void {
    this.statements.clear();
    if (this.db.open) this.db.close();
  }

  /** Reports the connection's pragmas and schema version. */
  connectionInfo(): SqliteConnectionInfo {
    const levels = ["off", "normal", "full", "extra"] as const;
    return {
      file: this.file,
      journalMode: String(this.db.pragma("journal_mode", { simple: true })),
      foreignKeys: this.db.pragma("foreign_keys", { simple: true }) === 1,
      busyTimeoutMs: Number(this.db.pragma("busy_timeout", { simple: true })),
      synchronous: levels[Number(this.db.pragma("synchronous", { simple: true }))],
      schemaVersion: schemaVersion(this.db),
    };
  }

  // datastores

  insertDatastore(ds: Datastore): void {
    this.insert("datastores", { id: ds.id, name: ds.name, path: ds.path, created_at: ds.createdAt });
  }

  getDatastore(id: string): Datastore | null {
    const row = this.stmt("SELECT * FROM datastores WHERE id = ?").get(id) as DatastoreRow | undefined;
    return row ? toDatastore(row) : null;
  }

  findDatastoreByName(name: string): Datastore | null {
    const row = this.stmt("SELECT * FROM datastores WHERE name = ?").get(name) as DatastoreRow | undefined;
    return row ? toDatastore(row) : null;
  }

  listDatastores(): Datastore[] {
    return (this.stmt("SELECT * FROM datastores ORDER BY name").all() as DatastoreRow[]).map(toDatastore);
  }

  deleteDatastore(id: string): void {
    this.deleteById("datastores", id);
  }

  // disk layers

  insertLayer(layer: DiskLayer): void {
    this.insert("disk_layers", {
      id: layer.id,
      datastore_id: layer.datastoreId,
      path: layer.path,
      format: layer.format,
      virtual_size_bytes: layer.virtualSizeBytes,
      content_id: layer.contentId,
      parent_content_id: layer.parentContentId,
      backing_path: layer.backingPath,
      owner_kind: layer.ownerKind,
      owner_id: layer.ownerId,
      state: layer.state,
      created_at: layer.createdAt,
    });
  }

  getLayer(id: string): DiskLayer | null {
    const row = this.stmt("SELECT * FROM disk_layers WHERE id = ?").get(id) as LayerRow | undefined;
    return row ? toLayer(row) : null;
  }

  findLayerByPath(path: string): DiskLayer | null {
    const row = this.stmt("SELECT * FROM disk_layers WHERE path = ?").get(path) as LayerRow | undefined;
    return row ? toLayer(row) : null;
  }

  findLayersByContentId(contentId: string): DiskLayer[] {
    const rows = this.stmt("SELECT * FROM disk_layers WHERE content_id = ? ORDER BY created_at, rowid").all(contentId);
    return (rows as LayerRow[]).map(toLayer);
  }

  listLayers(filter: { datastoreId?: string; ownerKind?: DiskLayer["ownerKind"]; ownerId?: string } = {}): DiskLayer[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const conditions: [string, unknown][] = [
      ["datastore_id", filter.datastoreId],
      ["owner_kind", filter.ownerKind],
      ["owner_id", filter.ownerId],
    ];
    for (const [column, value] of conditions) {
      if (value === undefined) continue;
      where.push(`${column} = ?`);
      params.push(value);
    }
    const sql = `SELECT * FROM disk_layers${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at, rowid`;
    return (this.stmt(sql).all(...params) as LayerRow[]).map(toLayer);
  }

  updateLayer(
    id: string,
    patch: Partial<Pick<DiskLayer, "contentId" | "parentContentId" | "backingPath" | "path" | "state" | "virtualSizeBytes">>,
  ): void {
    this.update("disk_layers", id, patch, LAYER_PATCH);
  }

  deleteLayer(id: string): void {
    this.deleteById("disk_layers", id);
  }

  // templates

  insertTemplate(t: Template): void {
    this.insert("templates", {
      id: t.id,
      name: t.name,
      datastore_id: t.datastoreId,
      disk_layer_id: t.diskLayerId,
      memory_mb: t.memoryMb,
      vcpus: t.vcpus,
      source_path: t.sourcePath,
      kernel_source: t.kernelSource,
      initrd_source: t.initrdSource,
      kernel: t.kernel,
      initrd: t.initrd,
      cmdline: t.cmdline,
      state: t.state,
      created_at: t.createdAt,
    });
  }

  getTemplate(id: string): Template | null {
    const row = this.stmt("SELECT * FROM templates WHERE id = ?").get(id) as TemplateRow | undefined;
    return row ? toTemplate(row) : null;
  }

  findTemplateByName(name: string): Template | null {
    const row = this.stmt("SELECT * FROM templates WHERE name = ?").get(name) as TemplateRow | undefined;
    return row ? toTemplate(row) : null;
  }

  listTemplates(filter: { datastoreId?: string } = {}): Template[] {
    const rows =
      filter.datastoreId === undefined
        ? this.stmt("SELECT * FROM templates ORDER BY name").all()
        : this.stmt("SELECT * FROM templates WHERE datastore_id = ? ORDER BY name").all(filter.datastoreId);
    return (rows as TemplateRow[]).map(toTemplate);
  }

  setTemplateState(id: string, state: RecordState): void {
    this.update("templates", id, { state }, { state: ["state", identity] });
  }

  deleteTemplate(id: string): void {
    this.deleteById("templates", id);
  }

  // replicas

  insertReplica(r: Replica): void {
    this.transact(() => {
      this.insert("replicas", {
        id: r.id,
        source_kind: r.sourceKind,
        source_path: r.sourcePath,
        source_template_id: r.sourceTemplateId,
        target_datastore_id: r.targetDatastoreId,
        top_layer_id: r.topLayerId,
        disk_path: r.diskPath,
        layers_copied: r.layersCopied,
        layers_reused: r.layersReused,
        bytes_copied: r.bytesCopied,
        last_run: JSON.stringify(r.lastRun),
        state: r.state,
        created_at: r.createdAt,
        updated_at: r.updatedAt,
      });
      this.insertReplicaLayers(r.id, r.layers);
    });
  }

  getReplica(id: string): Replica | null {
    const row = this.stmt("SELECT * FROM replicas WHERE id = ?").get(id) as ReplicaRow | undefined;
    return row ? this.toReplica(row) : null;
  }

  listReplicas(filter: { targetDatastoreId?: string } = {}): Replica[] {
    const rows =
      filter.targetDatastoreId === undefined
        ? this.stmt("SELECT * FROM replicas ORDER BY created_at, rowid").all()
        : this.stmt("SELECT * FROM replicas WHERE target_datastore_id = ? ORDER BY created_at, rowid").all(filter.targetDatastoreId);
    return (rows as ReplicaRow[]).map((r) => this.toReplica(r));
  }

  findReplicasUsingPath(path: string): Replica[] {
    const sql =
      "SELECT * FROM replicas WHERE id IN (SELECT replica_id FROM replica_layers WHERE path = ?) ORDER BY created_at, rowid";
    return (this.stmt(sql).all(path) as ReplicaRow[]).map((r) => this.toReplica(r));
  }

  updateReplica(
    id: string,
    patch: Partial<Pick<Replica, "sourcePath" | "topLayerId" | "diskPath" | "layersCopied" | "layersReused" | "bytesCopied" | "layers" | "lastRun" | "state" | "updatedAt">>,
  ): void {
    this.transact(() => {
      this.update("replicas", id, patch, REPLICA_PATCH);
      if (patch.layers !== undefined && this.stmt("SELECT 1 FROM replicas WHERE id = ?").get(id)) {
        this.write(
          () => this.stmt("DELETE FROM replica_layers WHERE replica_id = ?").run(id),
          () => undefined,
        );
        this.insertReplicaLayers(id, patch.layers);
      }
    });
  }

  deleteReplica(id: string): void {
    // replica_layers rows go with it (ON DELETE CASCADE).
    this.deleteById("replicas", id);
  }

  // jobs

  insertJob(job: Job): void {
    this.insert("jobs", {
      id: job.id,
      kind: job.kind,
      state: job.state,
      progress: JSON.stringify(job.progress),
      idempotency_key: job.idempotencyKey,
      request: encodeJson(job.request),
      intent: encodeJson(job.intent),
      result: encodeJson(job.result),
      error: encodeJson(job.error),
      target_id: job.targetId,
      cancel_requested: job.cancelRequested ? 1 : 0,
      created_at: job.createdAt,
      started_at: job.startedAt,
      finished_at: job.finishedAt,
      host_id: job.hostId ?? null,
    });
  }

  getJob(id: string): Job | null {
    const row = this.stmt("SELECT * FROM jobs WHERE id = ?").get(id) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  findJobByIdempotencyKey(key: string): Job | null {
    const row = this.stmt("SELECT * FROM jobs WHERE idempotency_key = ?").get(key) as JobRow | undefined;
    return row ? toJob(row) : null;
  }

  /** Newest first (created_at, then insertion order); throws a RangeError for a limit that is not a non-negative integer. */
  listJobs(filter: { states?: JobState[]; limit?: number } = {}): Job[] {
    const { states, limit } = filter;
    if (limit !== undefined && !(Number.isInteger(limit) && limit >= 0)) {
      throw new RangeError(`listJobs: limit must be a non-negative integer, got ${limit}`);
    }
    if (states && states.length === 0) return [];
    const where = states ? ` WHERE state IN (${states.map(() => "?").join(", ")})` : "";
    const sql = `SELECT * FROM jobs${where} ORDER BY created_at DESC, rowid DESC${limit !== undefined ? " LIMIT ?" : ""}`;
    const params: unknown[] = [...(states ?? []), ...(limit !== undefined ? [limit] : [])];
    return (this.stmt(sql).all(...params) as JobRow[]).map(toJob);
  }

  updateJob(
    id: string,
    patch: Partial<Pick<Job, "state" | "progress" | "intent" | "result" | "error" | "targetId" | "cancelRequested" | "startedAt" | "finishedAt">>,
  ): void {
    this.update("jobs", id, patch, JOB_PATCH);
  }

  // disk pools, fleets and VMs (S1; rows and mappers in sqlite-clones.ts)

  insertPool(p: Pool): void {
    this.insert("pools", { ...poolRow(p) });
  }

  getPool(id: string): Pool | null {
    const row = this.stmt("SELECT * FROM pools WHERE id = ?").get(id) as PoolRow | undefined;
    return row ? toPool(row) : null;
  }

  findPool(templateId: string, datastoreId: string): Pool | null {
    const row = this.stmt("SELECT * FROM pools WHERE template_id = ? AND datastore_id = ?").get(templateId, datastoreId) as PoolRow | undefined;
    return row ? toPool(row) : null;
  }

  listPools(filter: { templateId?: string; datastoreId?: string } = {}): Pool[] {
    const rows = this.stmt(
      "SELECT * FROM pools WHERE (@t IS NULL OR template_id = @t) AND (@d IS NULL OR datastore_id = @d) ORDER BY created_at, rowid",
    ).all({ t: filter.templateId ?? null, d: filter.datastoreId ?? null }) as PoolRow[];
    return rows.map(toPool);
  }

  updatePool(id: string, patch: Partial<Pick<Pool, "size" | "lastError" | "failures" | "retryAt">>): void {
    this.update("pools", id, patch, POOL_PATCH);
  }

  deletePool(id: string): void {
    this.deleteById("pools", id);
  }

  insertPoolCopy(c: PoolCopy): void {
    this.insert("pool_copies", { ...poolCopyRow(c) });
  }

  listPoolCopies(poolId: string): PoolCopy[] {
    const rows = this.stmt("SELECT * FROM pool_copies WHERE pool_id = ? ORDER BY created_at, rowid").all(poolId) as PoolCopyRow[];
    return rows.map(toPoolCopy);
  }

  deletePoolCopy(layerId: string): void {
    this.write(
      () => this.stmt("DELETE FROM pool_copies WHERE layer_id = ?").run(layerId),
      () => undefined,
    );
  }

  transferLayer(id: string, to: { path: string; ownerKind: DiskLayer["ownerKind"]; ownerId: string }): void {
    this.write(
      () => this.stmt("UPDATE disk_layers SET path = ?, owner_kind = ?, owner_id = ? WHERE id = ?").run(to.path, to.ownerKind, to.ownerId, id),
      () => undefined,
    );
  }

  insertFleet(f: Fleet): void {
    this.insert("fleets", { ...fleetRow(f) });
  }

  getFleet(id: string): Fleet | null {
    const row = this.stmt("SELECT * FROM fleets WHERE id = ?").get(id) as FleetRow | undefined;
    return row ? toFleet(row) : null;
  }

  findFleetByNamePrefix(namePrefix: string): Fleet | null {
    const row = this.stmt("SELECT * FROM fleets WHERE name_prefix = ?").get(namePrefix) as FleetRow | undefined;
    return row ? toFleet(row) : null;
  }

  listFleets(filter: { templateId?: string } = {}): Fleet[] {
    const rows = this.stmt("SELECT * FROM fleets WHERE (@t IS NULL OR template_id = @t) ORDER BY name_prefix").all({
      t: filter.templateId ?? null,
    }) as FleetRow[];
    return rows.map(toFleet);
  }

  updateFleet(id: string, patch: Partial<Pick<Fleet, "size" | "datastoreIds" | "cloneMode" | "powerState" | "updatedAt">>): void {
    this.update("fleets", id, patch, FLEET_PATCH);
  }

  deleteFleet(id: string): void {
    this.deleteById("fleets", id);
  }

  insertVm(vm: Vm): void {
    this.insert("vms", { ...vmRow(vm) });
  }

  getVm(id: string): Vm | null {
    const row = this.stmt("SELECT * FROM vms WHERE id = ?").get(id) as VmRow | undefined;
    return row ? toVm(row) : null;
  }

  findVmByName(name: string): Vm | null {
    const row = this.stmt("SELECT * FROM vms WHERE name = ?").get(name) as VmRow | undefined;
    return row ? toVm(row) : null;
  }

  listVms(filter: { fleetId?: string; datastoreId?: string; templateId?: string; instantCloneOf?: string } = {}): Vm[] {
    const rows = this.stmt(
      "SELECT * FROM vms WHERE (@f IS NULL OR fleet_id = @f) AND (@d IS NULL OR datastore_id = @d) AND (@t IS NULL OR template_id = @t) AND (@p IS NULL OR instant_clone_of = @p) ORDER BY name",
    ).all({ f: filter.fleetId ?? null, d: filter.datastoreId ?? null, t: filter.templateId ?? null, p: filter.instantCloneOf ?? null }) as VmRow[];
    return rows.map(toVm);
  }

  updateVm(id: string, patch: Partial<Pick<Vm, "state" | "powerState" | "diskLayerId" | "datastoreId" | "homeDir" | "accel" | "accelOverride" | "pid" | "stateDir" | "stunMs" | "crashed" | "machine" | "stopTimeoutSeconds" | "hostId" | "migrationNotifyTimeoutSeconds" | "migrationOnMissingAck">>): void {
    this.update("vms", id, patch, VM_PATCH);
  }

  // hosts (S6; rows and mappers in sqlite-hosts.ts)

  upsertHost(h: Host): void {
    const row = hostRow(h);
    const columns = Object.keys(row);
    const sets = columns.filter((c) => c !== "id" && c !== "created_at").map((c) => `${c} = excluded.${c}`);
    this.stmt(`INSERT INTO hosts (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")}) ON CONFLICT (id) DO UPDATE SET ${sets.join(", ")}`).run(row);
  }

  getHost(id: string): Host | null {
    const row = this.stmt("SELECT * FROM hosts WHERE id = ?").get(id) as HostRow | undefined;
    return row ? toHost(row) : null;
  }

  listHosts(): Host[] {
    return (this.stmt("SELECT * FROM hosts ORDER BY name").all() as HostRow[]).map(toHost);
  }

  updateHost(id: string, patch: Partial<Pick<Host, "apiUrl" | "pid" | "stateDir" | "vmStateRoot" | "lastHeartbeatAt" | "status" | "downReason" | "startedAt">>): void {
    this.update("hosts", id, patch, HOST_PATCH);
  }

  // API tokens (rows and mappers in sqlite-api-tokens.ts)

  insertApiToken(t: ApiToken): void {
    this.insert("api_tokens", { ...apiTokenRow(t) });
  }

  findApiTokenByHash(tokenHash: string): ApiToken | null {
    const row = this.stmt("SELECT * FROM api_tokens WHERE token_hash = ?").get(tokenHash) as ApiTokenRow | undefined;
    return row ? toApiToken(row) : null;
  }

  listApiTokens(): ApiToken[] {
    return (this.stmt("SELECT * FROM api_tokens ORDER BY created_at, id").all() as ApiTokenRow[]).map(toApiToken);
  }

  deleteApiToken(id: string): void {
    this.deleteById("api_tokens", id);
  }

  deleteVm(id: string): void {
    this.deleteById("vms", id);
  }

  // instant-clone parents (S3)

  insertParent(p: InstantCloneParent): void {
    this.insert("instant_clone_parents", { ...parentRow(p) });
  }

  getParent(id: string): InstantCloneParent | null {
    const row = this.stmt("SELECT * FROM instant_clone_parents WHERE id = ?").get(id) as ParentRow | undefined;
    return row ? toParent(row) : null;
  }

  findParentByName(name: string): InstantCloneParent | null {
    const row = this.stmt("SELECT * FROM instant_clone_parents WHERE name = ?").get(name) as ParentRow | undefined;
    return row ? toParent(row) : null;
  }

  listParents(filter: { datastoreId?: string } = {}): InstantCloneParent[] {
    const rows = this.stmt("SELECT * FROM instant_clone_parents WHERE (@d IS NULL OR datastore_id = @d) ORDER BY name").all({ d: filter.datastoreId ?? null }) as ParentRow[];
    return rows.map(toParent);
  }

  updateParent(id: string, patch: Partial<Pick<InstantCloneParent, "state" | "warmCount">>): void {
    this.update("instant_clone_parents", id, patch, { state: ["state", identity], warmCount: ["warm_count", identity] });
  }

  deleteParent(id: string): void {
    this.deleteById("instant_clone_parents", id);
  }

  // snapshots (S4)

  insertSnapshot(snap: Snapshot): void {
    this.insert("snapshots", { id: snap.id, vm_id: snap.vmId, name: snap.name, layer_id: snap.layerId, state: snap.state, created_at: snap.createdAt });
  }

  getSnapshot(id: string): Snapshot | null {
    const row = this.stmt("SELECT * FROM snapshots WHERE id = ?").get(id) as SnapshotRow | undefined;
    return row ? toSnapshot(row) : null;
  }

  listSnapshots(filter: { vmId?: string } = {}): Snapshot[] {
    const rows = this.stmt("SELECT * FROM snapshots WHERE (@v IS NULL OR vm_id = @v) ORDER BY created_at, rowid").all({ v: filter.vmId ?? null }) as SnapshotRow[];
    return rows.map(toSnapshot);
  }

  updateSnapshot(id: string, patch: Partial<Pick<Snapshot, "layerId" | "state">>): void {
    this.update("snapshots", id, patch, { layerId: ["layer_id", (v) => v], state: ["state", (v) => v] });
  }

  deleteSnapshot(id: string): void {
    this.deleteById("snapshots", id);
  }

  // settings

  getSetting(key: string): string | null {
    const row = this.stmt("SELECT value FROM settings WHERE key = ?").get(key) as { value: string } | undefined;
    return row ? row.value : null;
  }

  setSetting(key: string, value: string): void {
    const sql = "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
    this.write(() => this.stmt(sql).run(key, value), () => undefined);
  }

  // plumbing

  private insertReplicaLayers(replicaId: string, layers: readonly ReplicaLayer[]): void {
    for (const l of layers) {
      this.insert("replica_layers", {
        replica_id: replicaId,
        position: l.position,
        path: l.path,
        content_id: l.contentId,
        parent_content_id: l.parentContentId,
        virtual_size_bytes: l.virtualSizeBytes,
        format: l.format,
        origin: l.origin,
        layer_id: l.layerId,
        source_path: l.sourcePath,
      });
    }
  }

  private toReplica(r: ReplicaRow): Replica {
    const layers = (this.stmt("SELECT * FROM replica_layers WHERE replica_id = ? ORDER BY position").all(r.id) as ReplicaLayerRow[]).map(
      (l): ReplicaLayer => ({
        position: l.position,
        path: l.path,
        contentId: l.content_id,
        parentContentId: l.parent_content_id,
        virtualSizeBytes: l.virtual_size_bytes,
        format: l.format as ReplicaLayer["format"],
        origin: l.origin as ReplicaLayer["origin"],
        layerId: l.layer_id,
        sourcePath: l.source_path,
      }),
    );
    return {
      id: r.id,
      sourceKind: r.source_kind as Replica["sourceKind"],
      sourcePath: r.source_path,
      sourceTemplateId: r.source_template_id,
      targetDatastoreId: r.target_datastore_id,
      topLayerId: r.top_layer_id,
      diskPath: r.disk_path,
      layersCopied: r.layers_copied,
      layersReused: r.layers_reused,
      bytesCopied: r.bytes_copied,
      layers,
      lastRun: JSON.parse(r.last_run) as Replica["lastRun"],
      state: r.state as RecordState,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    };
  }

  private stmt(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private insert(table: string, row: Row): void {
    const columns = Object.keys(row);
    const sql = `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => `@${c}`).join(", ")})`;
    this.write(
      () => this.stmt(sql).run(row),
      () => this.missingParent(table, row),
    );
  }

  private update(table: string, id: string, patch: Patch, spec: Record<string, [string, (v: unknown) => unknown]>): void {
    const row: Row = {};
    for (const [key, value] of Object.entries(patch)) {
      // undefined means "leave as is"; null clears a nullable column.
      if (value === undefined || !Object.hasOwn(spec, key)) continue;
      const [column, encode] = spec[key];
      row[column] = encode(value);
    }
    const columns = Object.keys(row);
    if (columns.length === 0) return;
    const sql = `UPDATE ${table} SET ${columns.map((c) => `${c} = @${c}`).join(", ")} WHERE id = @id`;
    this.write(
      () => this.stmt(sql).run({ ...row, id }),
      () => undefined,
    );
  }

  private deleteById(table: string, id: string): void {
    this.write(
      () => this.stmt(`DELETE FROM ${table} WHERE id = ?`).run(id),
      () => this.stillReferenced(table, id),
    );
  }

  /**
   * Runs one write, inside the caller's transaction when there is one and in its own otherwise,
   * turning constraint failures into StoreConstraintError; `explainForeignKey` names the column
   * of a foreign-key failure, which SQLite does not report.
   */
  private write(run: () => void, explainForeignKey: () => { column: string; message: string } | undefined): void {
    const guarded = (): void => {
      try {
        run();
      } catch (err) {
        // Explain while still inside the transaction, so the probe sees the same data the write did.
        throw toConstraintError(err, explainForeignKey) ?? err;
      }
    };
    if (this.db.inTransaction) guarded();
    else this.transact(guarded);
  }

  private missingParent(table: string, row: Row): { column: string; message: string } | undefined {
    for (const fk of this.foreignKeys) {
      if (fk.table !== table) continue;
      const value = row[fk.column];
      if (value === null || value === undefined) continue;
      const found = this.stmt(`SELECT 1 FROM "${fk.parent}" WHERE "${fk.parentColumn}" = ?`).get(value);
      if (!found) {
        return {
          column: fk.column,
          message: `${table}.${fk.column}: no ${fk.parent} row with ${fk.parentColumn} ${JSON.stringify(value)}`,
        };
      }
    }
    return undefined;
  }

  private stillReferenced(table: string, id: string): { column: string; message: string } | undefined {
    for (const fk of this.foreignKeys) {
      if (fk.parent !== table || fk.parentColumn !== "id") continue;
      const found = this.stmt(`SELECT 1 FROM "${fk.table}" WHERE "${fk.column}" = ? LIMIT 1`).get(id);
      if (found) {
        return { column: fk.column, message: `${table} ${JSON.stringify(id)} is still referenced by ${fk.table}.${fk.column}` };
      }
    }
    return undefined;
  }
}

/**
 * Opens (creating if needed) the SQLite inventory at `file` with WAL, foreign keys, a 5 s busy
 * timeout and synchronous=NORMAL, and applies pending migrations; throws `SchemaTooNewError` for a
 * database from a newer clonefleet, or the SQLite error when the file cannot be opened.
 */
export function openSqliteStore(file: string): SqliteStore {
  restrictInventoryFiles(file);
  const db = new Database(file, { timeout: 5000 });
  try {
    // journal_mode must be set outside a transaction, and WAL persists in the file; NORMAL is
    // durable enough under WAL (a power cut may lose the last commits, never corrupt the file).
    db.pragma("journal_mode = WAL");
    db.pragma("foreign_keys = ON");
    db.pragma("busy_timeout = 5000");
    db.pragma("synchronous = NORMAL");
    migrate(db);
    return new SqliteStore(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Makes the inventory file and its WAL companions readable by the owner only, whatever the
 * folder's mode or the umask: SQLite gives the -wal and -shm it creates the main file's mode, so
 * the main file exists with 0600 before SQLite opens it. An in-memory database has no files.
 */
function restrictInventoryFiles(file: string): void {
  if (file === "" || file === ":memory:" || file.startsWith("file:")) return;
  closeSync(openSync(file, fsc.O_RDWR | fsc.O_CREAT, 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
}

function readForeignKeys(db: Database.Database): ForeignKey[] {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").pluck().all() as string[];
  const keys: ForeignKey[] = [];
  for (const table of tables) {
    const rows = db.prepare("SELECT * FROM pragma_foreign_key_list(?)").all(table) as { table: string; from: string; to: string | null }[];
    for (const r of rows) keys.push({ table, column: r.from, parent: r.table, parentColumn: r.to ?? "id" });
  }
  return keys;
}

/**
 * True for better-sqlite3's errors. Checked by shape, not `instanceof`: the addon keeps the
 * SqliteError class of the first copy of the module that loaded it in this process, so a
 * second copy (another jest test file in the same worker) receives errors of another class.
 */
function isSqliteError(err: unknown): err is InstanceType<typeof Database.SqliteError> {
  if (err instanceof Database.SqliteError) return true;
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  return typeof e === "object" && e !== null && e.name === "SqliteError" && typeof e.code === "string" && typeof e.message === "string";
}

function toConstraintError(
  err: unknown,
  explainForeignKey: () => { column: string; message: string } | undefined,
): StoreConstraintError | undefined {
  if (!isSqliteError(err)) return undefined;
  switch (err.code) {
    case "SQLITE_CONSTRAINT_UNIQUE":
    case "SQLITE_CONSTRAINT_PRIMARYKEY": {
      // "UNIQUE constraint failed: datastores.name" (or "t.a, t.b" for a composite key).
      const m = /constraint failed: (.+)$/.exec(err.message);
      const columns = m ? m[1].split(",").map((part) => part.trim().split(".").pop() ?? "") : [];
      const column = columns.length && columns.every((c) => /^\w+$/.test(c)) ? columns.join(", ") : undefined;
      return new StoreConstraintError(err.message, column);
    }
    case "SQLITE_CONSTRAINT_FOREIGNKEY":
    case "SQLITE_CONSTRAINT_TRIGGER": {
      // ON DELETE RESTRICT (should a later migration use it) fails as a trigger constraint with
      // the foreign-key message; other trigger failures are not ours to explain.
      if (err.code === "SQLITE_CONSTRAINT_TRIGGER" && !err.message.startsWith("FOREIGN KEY")) return undefined;
      const explained = explainForeignKey();
      return explained ? new StoreConstraintError(explained.message, explained.column) : new StoreConstraintError(err.message);
    }
    default:
      return undefined;
  }
}

function encodeJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

function decodeJson(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

function toDatastore(r: DatastoreRow): Datastore {
  return { id: r.id, name: r.name, path: r.path, createdAt: r.created_at };
}

function toLayer(r: LayerRow): DiskLayer {
  return {
    id: r.id,
    datastoreId: r.datastore_id,
    path: r.path,
    format: r.format as DiskLayer["format"],
    virtualSizeBytes: r.virtual_size_bytes,
    contentId: r.content_id,
    parentContentId: r.parent_content_id,
    backingPath: r.backing_path,
    ownerKind: r.owner_kind as DiskLayer["ownerKind"],
    ownerId: r.owner_id,
    state: r.state as RecordState,
    createdAt: r.created_at,
  };
}

function toTemplate(r: TemplateRow): Template {
  return {
    id: r.id,
    name: r.name,
    datastoreId: r.datastore_id,
    diskLayerId: r.disk_layer_id,
    memoryMb: r.memory_mb,
    vcpus: r.vcpus,
    sourcePath: r.source_path,
    kernelSource: r.kernel_source,
    initrdSource: r.initrd_source,
    kernel: r.kernel,
    initrd: r.initrd,
    cmdline: r.cmdline,
    state: r.state as RecordState,
    createdAt: r.created_at,
  };
}

function toJob(r: JobRow): Job {
  return {
    id: r.id,
    kind: r.kind,
    state: r.state as JobState,
    progress: JSON.parse(r.progress) as Job["progress"],
    idempotencyKey: r.idempotency_key,
    request: decodeJson(r.request),
    intent: decodeJson(r.intent),
    result: decodeJson(r.result),
    error: decodeJson(r.error) as Job["error"],
    targetId: r.target_id,
    cancelRequested: r.cancel_requested === 1,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    hostId: r.host_id,
  };
}
