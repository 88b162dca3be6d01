import type { Migration } from "./migrations";

/** The database was written by a newer clonefleet than this one; thrown by `migrateSql` before it changes anything. */
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

/** What `migrateSql` did: the schema version before and after, and the versions it applied. */
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

/** Throws unless the migrations are numbered in strictly increasing order. */
export function checkOrder(migrations: readonly Migration[]): void {
  let previous = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= previous) {
      throw new Error(`migration ${JSON.stringify(m.name)}: version ${m.version} must be an integer above ${previous}`);
    }
    previous = m.version;
  }
}
