import { LATEST_SCHEMA_VERSION } from "../migrations";
import type { SqlDriver, SqlRow, SqlSession, SqlValue } from "./driver";
import { migrateSql, schemaVersionOf } from "./migrate";

/**
 * Every inventory table, parents before the tables that refer to them, so rows can be inserted
 * in this order with foreign keys checked. A migration that adds a table must add it here: the
 * copy refuses a source with a table it does not know rather than leaving it behind.
 */
export const INVENTORY_TABLES = [
  "settings",
  "datastores",
  "disk_layers",
  "templates",
  "replicas",
  "replica_layers",
  "pools",
  "pool_copies",
  "fleets",
  "hosts",
  "vms",
  "snapshots",
  "instant_clone_parents",
  "jobs",
  "api_tokens",
] as const;

/** What a copy moved, table by table, and the schema version both sides are at. */
export interface InventoryCopyReport {
  schemaVersion: number;
  rows: Record<string, number>;
}

/** The copy cannot start or did not come out equal; nothing was committed on the target. */
export class InventoryCopyError extends Error {
  readonly code = "CF_INVENTORY_COPY";
  constructor(message: string) {
    super(message);
    this.name = "InventoryCopyError";
  }
}

/**
 * Copies a whole inventory (normally the single-machine SQLite one) into an empty database
 * (normally PostgreSQL): the target is migrated to this code's schema, every row is copied in
 * one transaction, and before committing the copy is read back and compared row for row — ids,
 * content IDs and every other column. A target that already holds any record is refused.
 */
export async function copyInventory(from: SqlDriver, to: SqlDriver): Promise<InventoryCopyReport> {
  const sourceVersion = await schemaVersionOf(from);
  if (sourceVersion === 0) throw new InventoryCopyError(`${from.location} holds no clonefleet inventory (no schema_migrations table)`);
  if (sourceVersion !== LATEST_SCHEMA_VERSION) {
    throw new InventoryCopyError(
      `${from.location} is at inventory schema ${sourceVersion}, this clonefleet writes ${LATEST_SCHEMA_VERSION}; ` +
        (sourceVersion < LATEST_SCHEMA_VERSION ? "start this clonefleet's engine on it once (it upgrades the file), stop it, then copy" : "copy it with the newer clonefleet that wrote it"),
    );
  }
  await refuseUnknownTables(from);
  await refuseNonEmpty(to);
  await migrateSql(to);

  // The read runs in a transaction so the copy is one consistent moment of the source even if
  // an engine were still writing it (SQLite's IMMEDIATE holds writers off until the read ends).
  const data = await from.tx(async (s) => {
    const out: Record<string, SqlRow[]> = {};
    for (const table of INVENTORY_TABLES) out[table] = await s.query(`SELECT * FROM ${table}`);
    return out;
  });

  return to.tx(async (s) => {
    // Another copy may have raced ours between the check and now: check again under the lock.
    await refuseNonEmpty(s);
    const rows: Record<string, number> = {};
    for (const table of INVENTORY_TABLES) {
      for (const row of data[table]) await insertRow(s, table, row);
      rows[table] = data[table].length;
    }
    for (const table of INVENTORY_TABLES) {
      const copied = await s.query(`SELECT * FROM ${table}`);
      const problem = firstDifference(table, data[table], copied);
      if (problem) throw new InventoryCopyError(`the copy does not equal the source, nothing was committed: ${problem}`);
    }
    return { schemaVersion: LATEST_SCHEMA_VERSION, rows };
  });
}

async function refuseUnknownTables(db: SqlDriver): Promise<void> {
  const names = (await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")).map((r) => r.name);
  const unknown = names.filter((n) => n !== "schema_migrations" && !(INVENTORY_TABLES as readonly string[]).includes(n));
  if (unknown.length) throw new InventoryCopyError(`${db.location} has tables this clonefleet does not know how to copy: ${unknown.join(", ")}`);
}

async function refuseNonEmpty(db: SqlSession & { location?: string }): Promise<void> {
  if ((await schemaVersionOf(db)) === 0) {
    // No clonefleet schema yet; any other table means somebody else's database.
    const tables =
      db.dialect === "postgres"
        ? await db.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()")
        : await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    if (tables.length) throw new InventoryCopyError(`the target database is not empty (it holds tables ${tables.map((t) => t.name).join(", ")}); copy into a new, empty database`);
    return;
  }
  for (const table of INVENTORY_TABLES) {
    const [row] = await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`);
    if (Number(row.n) > 0) throw new InventoryCopyError(`the target inventory is not empty (${table} holds ${row.n} rows); copy into a new, empty database`);
  }
}

/** A row's primary key as one string; rows are matched by it, since the two databases may sort text differently. */
function keyOf(table: string, row: SqlRow): string {
  if (table === "settings") return String(row.key);
  if (table === "replica_layers") return `${String(row.replica_id)}#${String(row.position)}`;
  if (table === "pool_copies") return String(row.layer_id);
  return String(row.id);
}

async function insertRow(s: SqlSession, table: string, row: SqlRow): Promise<void> {
  const columns = Object.keys(row);
  await s.run(
    `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
    columns.map((c) => row[c] as SqlValue),
  );
}

/** The first row or column where `copied` differs from `source`, or null when they are equal. */
export function firstDifference(table: string, source: readonly SqlRow[], copied: readonly SqlRow[]): string | null {
  if (source.length !== copied.length) return `${table}: ${source.length} rows in the source, ${copied.length} in the copy`;
  const byKey = new Map(copied.map((r) => [keyOf(table, r), r]));
  for (const row of source) {
    const key = keyOf(table, row);
    const other = byKey.get(key);
    if (!other) return `${table} ${key} is missing from the copy`;
    for (const [column, value] of Object.entries(row)) {
      if (value !== other[column]) return `${table} ${key} column ${column}: ${JSON.stringify(value)} became ${JSON.stringify(other[column])}`;
    }
  }
  return null;
}
