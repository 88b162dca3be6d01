import Database from "better-sqlite3";
import { chmodSync, closeSync, constants as fsc, openSync } from "node:fs";
import type { Datastore, DiskLayer, Job, JobState, RecordState, Replica, ReplicaLayer, Template } from "../model";
import {
  datastoreRow,
  JOB_PATCH,
  jobRow,
  LAYER_PATCH,
  layerRow,
  REPLICA_PATCH,
  replicaLayerRow,
  replicaRow,
  snapshotRow,
  templateRow,
  toDatastore,
  toJob,
  toLayer,
  toReplica,
  toSnapshot,
  toTemplate,
  type DatastoreRow,
  type JobRow,
  type LayerRow,
  type ReplicaLayerRow,
  type ReplicaRow,
  type SnapshotRow,
  type TemplateRow,
} from "./rows";

type Row = Record<string, unknown>;
type Patch = Record<string, unknown>;
const identity = (v: unknown): unknown => v;
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
    this.insert("datastores", { ...datastoreRow(ds) });
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
    this.insert("disk_layers", { ...layerRow(layer) });
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
    this.insert("templates", { ...templateRow(t) });
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
      this.insert("replicas", { ...replicaRow(r) });
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
    this.insert("jobs", { ...jobRow(job) });
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
    this.insert("snapshots", { ...snapshotRow(snap) });
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
    for (const l of layers) this.insert("replica_layers", { ...replicaLayerRow(replicaId, l) });
  }

  private toReplica(r: ReplicaRow): Replica {
    return toReplica(r, this.stmt("SELECT * FROM replica_layers WHERE replica_id = ?").all(r.id) as ReplicaLayerRow[]);
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
export function restrictInventoryFiles(file: string): void {
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

