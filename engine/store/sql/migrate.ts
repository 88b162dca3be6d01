import { MIGRATIONS, type Migration } from "../migrations";
import { checkOrder, CREATE_LEDGER, SchemaTooNewError, type MigrationReport } from "../migrate";
import type { SqlDialect, SqlDriver, SqlSession } from "./driver";

/**
 * The migrations are written once, in SQLite's spelling. PostgreSQL needs two words changed:
 * our INTEGER columns hold byte sizes beyond 2^31 (BIGINT there) and REAL means a double.
 */
export function ddlFor(dialect: SqlDialect, sql: string): string {
  if (dialect === "sqlite") return sql;
  return sql.replace(/\bINTEGER\b/g, "BIGINT").replace(/\bREAL\b/g, "DOUBLE PRECISION");
}

// One number for every engine that could migrate the same PostgreSQL database at once.
const MIGRATION_LOCK = 0x636c6f6e; // "clon"

/** The highest migration version recorded, or 0 for an empty database. */
export async function schemaVersionOf(db: SqlSession): Promise<number> {
  const ledger =
    db.dialect === "sqlite"
      ? await db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
      : await db.query("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'");
  if (ledger.length === 0) return 0;
  const [row] = await db.query<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations");
  return Number(row.v ?? 0);
}

/**
 * Applies the pending migrations, each in its own transaction recorded in `schema_migrations`;
 * the same versions on both databases. Throws `SchemaTooNewError` before changing anything when
 * the database is ahead of the code.
 */
export async function migrateSql(db: SqlDriver, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationReport> {
  checkOrder(migrations);
  const codeVersion = migrations.length ? migrations[migrations.length - 1].version : 0;
  const from = await schemaVersionOf(db);
  if (from > codeVersion) throw new SchemaTooNewError(from, codeVersion);

  const applied: number[] = [];
  for (const m of migrations) {
    await db.tx(async (s) => {
      // Two engines starting on one fresh database: the second waits here, then finds the
      // version recorded. SQLite's BEGIN IMMEDIATE already serializes.
      if (s.dialect === "postgres") await s.query("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK]);
      await s.exec(ddlFor(s.dialect, CREATE_LEDGER));
      const current = await schemaVersionOf(s);
      if (current > codeVersion) throw new SchemaTooNewError(current, codeVersion);
      if ((await s.query("SELECT 1 FROM schema_migrations WHERE version = ?", [m.version])).length) return;
      await s.exec(ddlFor(s.dialect, m.up));
      await s.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", [m.version, m.name, new Date().toISOString()]);
      applied.push(m.version);
    });
  }
  return { from, to: await schemaVersionOf(db), applied };
}
