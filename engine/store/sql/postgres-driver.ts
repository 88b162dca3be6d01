import { Pool, types, type PoolClient } from "pg";
import { InventoryUnavailableError, StoreConstraintError, type SqlDriver, type SqlRow, type SqlSession, type SqlValue } from "./driver";

// Our integers are sizes and counts well inside 2^53; read BIGINT and DOUBLE as numbers, as
// SQLite gives them, instead of pg's default strings.
types.setTypeParser(types.builtins.INT8, (v) => Number(v));
types.setTypeParser(types.builtins.FLOAT8, (v) => Number(v));

/** Connection failures, as distinct from a statement the server refused. */
const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENOENT", "57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004", "28000", "28P01", "3D000"]);

/** PostgreSQL through node-postgres: a pool of connections, one held per transaction. */
export class PostgresDriver implements SqlDriver {
  readonly dialect = "postgres" as const;
  /** Connections held by `holdLock`: closed with the driver, and their locks with them. */
  private readonly holding = new Set<PoolClient>();

  private constructor(
    private readonly pool: Pool,
    readonly location: string,
  ) {}

  /**
   * Connects to `url` (postgres://user:password@host:port/database, or with `?host=/socket/dir`)
   * and checks the server answers; throws `InventoryUnavailableError` when it does not.
   */
  static async open(url: string, opts: { max?: number } = {}): Promise<PostgresDriver> {
    const location = redactedUrl(url);
    const pool = new Pool({ connectionString: url, max: opts.max ?? 8, connectionTimeoutMillis: 5000 });
    // An idle connection dropped by a server restart must not crash the engine: the next query
    // gets a fresh connection or a clear error.
    pool.on("error", () => undefined);
    const driver = new PostgresDriver(pool, location);
    try {
      await driver.query("SELECT 1");
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return driver;
  }

  query<R extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    return this.guard(async () => (await this.pool.query(numbered(sql), params as SqlValue[])).rows as R[]);
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.guard(async () => (await this.pool.query(numbered(sql), params as SqlValue[])).rowCount ?? 0);
  }

  exec(sql: string): Promise<void> {
    return this.guard(async () => void (await this.pool.query(sql)));
  }

  async tx<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    const client = await this.guard(() => this.pool.connect());
    let broken = false;
    try {
      await this.guard(() => client.query("BEGIN"));
      const out = await fn(this.sessionOn(client));
      await this.guard(() => client.query("COMMIT"));
      return out;
    } catch (err) {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken = true;
      }
      throw err;
    } finally {
      // A connection that could not even roll back is discarded rather than reused.
      client.release(broken);
    }
  }

  async holdLock(name: string): Promise<() => Promise<void>> {
    const client = await this.guard(() => this.pool.connect());
    try {
      await this.guard(() => client.query("SELECT pg_advisory_lock(hashtext($1))", [name]));
    } catch (err) {
      client.release(true);
      throw err;
    }
    this.holding.add(client);
    let released = false;
    return async () => {
      if (released || !this.holding.delete(client)) return;
      released = true;
      let broken = false;
      try {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [name]);
      } catch {
        // The connection is gone, and the lock with it; the connection is not reused.
        broken = true;
      } finally {
        client.release(broken);
      }
    };
  }

  async close(): Promise<void> {
    // Ending the connection ends its session locks; the pool waits for no held connection.
    for (const client of this.holding) client.release(true);
    this.holding.clear();
    await this.pool.end();
  }

  private sessionOn(client: PoolClient): SqlSession {
    return {
      dialect: "postgres",
      query: <R extends SqlRow>(sql: string, params: readonly SqlValue[] = []) =>
        this.guard(async () => (await client.query(numbered(sql), params as SqlValue[])).rows as R[]),
      run: (sql: string, params: readonly SqlValue[] = []) =>
        this.guard(async () => (await client.query(numbered(sql), params as SqlValue[])).rowCount ?? 0),
      exec: (sql: string) => this.guard(async () => void (await client.query(sql))),
    };
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translate(err, this.location);
    }
  }
}

/** Turns the portable `?` placeholders into PostgreSQL's `$1, $2, …`; our SQL has no `?` inside literals. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** The URL with its password replaced, fit for messages and logs. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}

function translate(err: unknown, location: string): unknown {
  const e = err as { code?: string; message?: string; detail?: string; constraint?: string; table?: string };
  if (e.code === "23505") {
    // detail: Key (name)=(web-1) already exists.
    const column = /^Key \(([\w, ]+)\)/.exec(e.detail ?? "")?.[1];
    return new StoreConstraintError(`${e.message}${e.detail ? ` (${e.detail})` : ""}`, column);
  }
  if (e.code === "23503") {
    // PostgreSQL names a foreign key <table>_<column>_fkey, table being the referring one.
    const column = e.table && e.constraint?.startsWith(`${e.table}_`) && e.constraint.endsWith("_fkey") ? e.constraint.slice(e.table.length + 1, -"_fkey".length) : undefined;
    return new StoreConstraintError(`${e.message}${e.detail ? ` (${e.detail})` : ""}`, column);
  }
  if (e.code && UNAVAILABLE_CODES.has(e.code)) return new InventoryUnavailableError(location, e.message ?? e.code);
  if (e.message && /timeout exceeded when trying to connect|Connection terminated/i.test(e.message)) {
    return new InventoryUnavailableError(location, e.message);
  }
  return err;
}
