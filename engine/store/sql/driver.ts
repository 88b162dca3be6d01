/**
 * The one seam between the inventory and a database engine. Everything above it speaks portable
 * SQL with `?` placeholders; a driver turns that into its own dialect. Both drivers are
 * asynchronous so that PostgreSQL (a server) and SQLite (a file) stand behind the same code.
 */
import { StoreConstraintError } from "../errors";

/** Constraint failures surface as the store's own error, naming the column when known. */
export { StoreConstraintError };

export type SqlDialect = "sqlite" | "postgres";

export type SqlValue = string | number | null;
export type SqlRow = Record<string, unknown>;

export interface SqlSession {
  readonly dialect: SqlDialect;
  /** Rows of a statement that returns rows. */
  query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs several statements with no parameters (DDL). */
  exec(sql: string): Promise<void>;
}

export interface SqlDriver extends SqlSession {
  /**
   * Runs `fn` in one transaction on one connection; a throw rolls back all it wrote. Inside `fn`
   * use only the session it is given: a statement issued on the driver runs outside the
   * transaction (on SQLite, whose one connection the transaction holds, it would wait for ever).
   */
  tx<T>(fn: (session: SqlSession) => Promise<T>): Promise<T>;
  /**
   * Waits until no one holds the lock `name`, then holds it across transactions until the
   * returned function releases it. On PostgreSQL it is a session advisory lock on a connection
   * of its own, so every engine on the database honours it and a dead engine's hold ends with
   * its connection; on SQLite it holds within this process.
   */
  holdLock(name: string): Promise<() => Promise<void>>;
  /** Where the inventory lives, without any password: for messages and `engine info`. */
  readonly location: string;
  close(): Promise<void>;
}

/** The inventory cannot be reached or opened (wrong URL, server down, bad credentials). */
export class InventoryUnavailableError extends Error {
  readonly code = "CF_INVENTORY_UNAVAILABLE";
  constructor(
    readonly location: string,
    readonly reason: string,
  ) {
    super(`inventory ${location} is unavailable: ${reason}`);
    this.name = "InventoryUnavailableError";
  }
}
