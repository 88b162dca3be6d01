import type Database from "better-sqlite3";
import { MIGRATIONS, type Migration } from "./migrations";

/** The database was written by a newer clonefleet than this one; thrown by `migrate` before it changes anything. */
export class SchemaTooNewError extends Error {
  constructor(
    readonly databaseVersion: number,
    readonly codeVersion: number,
  ) {
    super(
      `inventory schema version ${databaseVersion} is newer than this clonefleet knows (${codeVersion}); ` +
        `upgrade clonefleet or open another database`,
    );
    this.name = "SchemaTooNewError";
  }
}

/** What `migrate` did: the schema version before and after, and the versions it applied. */
export interface MigrationReport {
  from: number;
  to: number;
  applied: number[];
}

export const CREATE_LEDGER = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER NOT NULL PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at TEXT    NOT NULL
)`;

/** The highest migration version recorded in `db`, or 0 for a fresh database; may be called any time. */
export function schemaVersion(db: Database.Database): number {
  const ledger = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!ledger) return 0;
  const row = db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies the pending migrations to `db` in order, each in its own transaction recorded in
 * `schema_migrations`, on open and outside any transaction; throws `SchemaTooNewError` when the
 * database is ahead of the code, or a failing migration's error once that migration is rolled back.
 */
export function migrate(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): MigrationReport {
  checkOrder(migrations);
  const codeVersion = migrations.length ? migrations[migrations.length - 1].version : 0;
  // Refuse before creating anything, so a newer engine's database is left exactly as it was.
  const from = schemaVersion(db);
  if (from > codeVersion) throw new SchemaTooNewError(from, codeVersion);

  db.exec(CREATE_LEDGER);
  const applied: number[] = [];
  for (const m of migrations) {
    // IMMEDIATE takes the write lock before reading the version, so two processes opening the
    // same fresh file cannot both apply one migration.
    const apply = db.transaction(() => {
      const current = schemaVersion(db);
      if (current > codeVersion) throw new SchemaTooNewError(current, codeVersion);
      // By version recorded, not by the highest one: migrations written on parallel branches
      // (6 and 7) may land in either order, and a database at 7 still needs 6.
      if (db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?").get(m.version)) return;
      db.exec(m.up);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        m.version,
        m.name,
        new Date().toISOString(),
      );
      applied.push(m.version);
    });
    apply.immediate();
  }
  return { from, to: schemaVersion(db), applied };
}

export function checkOrder(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= previous) {
      throw new Error(`migration ${JSON.stringify(m.name)}: version ${m.version} must be an integer above ${previous}`);
    }
    previous = m.version;
  }
}
