import Database from "better-sqlite3";
import { chmodSync, closeSync, constants as fsc, openSync } from "node:fs";
import { StoreConstraintError, type SqlDriver, type SqlRow, type SqlSession, type SqlValue } from "./driver";

/**
 * SQLite through better-sqlite3. The connection is one, so statements are serialized: a
 * transaction holds the connection until it ends, and statements issued meanwhile wait for it
 * instead of joining it (which would let a rollback undo them).
 */
export class SqliteDriver implements SqlDriver {
  readonly dialect = "sqlite" as const;
  private queue: Promise<unknown> = Promise.resolve();
  /** Named locks held in this process (`holdLock`): each waits for the one before it. */
  private readonly held = new Map<string, Promise<void>>();
  private readonly session: SqlSession;

  private constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    this.session = {
      dialect: "sqlite",
      query: async <R extends SqlRow>(sql: string, params: readonly SqlValue[] = []) => this.all<R>(sql, params),
      run: async (sql: string, params: readonly SqlValue[] = []) => this.change(sql, params),
      exec: async (sql: string) => void this.db.exec(sql),
    };
  }

  /** Opens the SQLite file (creating it unless `mustExist`) with the pragmas the engine relies on. */
  static open(file: string, opts: { mustExist?: boolean } = {}): SqliteDriver {
    const db = new Database(file, { timeout: 5000, fileMustExist: Boolean(opts.mustExist) });
    try {
      if (file !== ":memory:") db.pragma("journal_mode = WAL");
      db.pragma("foreign_keys = ON");
      db.pragma("busy_timeout = 5000");
      db.pragma("synchronous = NORMAL");
    } catch (err) {
      db.close();
      throw err;
    }
    return new SqliteDriver(db, file);
  }

  query<R extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    return this.serialized(() => this.all<R>(sql, params));
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.serialized(() => this.change(sql, params));
  }

  exec(sql: string): Promise<void> {
    return this.serialized(() => void this.db.exec(sql));
  }

  tx<T>(fn: (session: SqlSession) => Promise<T>): Promise<T> {
    return this.serialized(async () => {
      // IMMEDIATE: every transaction here exists to write; taking the lock at BEGIN keeps
      // another process from slipping a write in between our read and our write.
      this.db.exec("BEGIN IMMEDIATE");
      try {
        const out = await fn(this.session);
        this.db.exec("COMMIT");
        return out;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw err;
      }
    });
  }

  async holdLock(name: string): Promise<() => Promise<void>> {
    const previous = this.held.get(name) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => mine);
    this.held.set(name, chained);
    await previous;
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      release();
      if (this.held.get(name) === chained) this.held.delete(name);
    };
  }

  async close(): Promise<void> {
    await this.queue.catch(() => undefined);
    if (this.db.open) this.db.close();
  }

  private serialized<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private all<R>(sql: string, params: readonly SqlValue[]): R[] {
    return translate(() => this.db.prepare(sql).all(...params) as R[]);
  }

  private change(sql: string, params: readonly SqlValue[]): number {
    return translate(() => this.db.prepare(sql).run(...params).changes);
  }
}

function translate<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === "SQLITE_CONSTRAINT_UNIQUE" || e.code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
      // "UNIQUE constraint failed: vms.name" → name; "t.a, t.b" (a composite key) → "a, b"
      const listed = /constraint failed: (.+)$/.exec(e.message ?? "")?.[1].split(",").map((part) => part.trim().split(".").pop() ?? "");
      const column = listed && listed.every((c) => /^\w+$/.test(c)) ? listed.join(", ") : undefined;
      throw new StoreConstraintError(e.message ?? "unique constraint failed", column);
    }
    if (e.code === "SQLITE_CONSTRAINT_FOREIGNKEY") throw new StoreConstraintError(e.message ?? "foreign key constraint failed");
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
