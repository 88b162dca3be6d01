import { AsyncLocalStorage } from "node:async_hooks";
import type { Inventory } from "../inventory";
import { restrictInventoryFiles } from "./sqlite-driver";
import type { SqlDriver, SqlSession } from "./driver";
import { migrateSql } from "./migrate";
import { PostgresDriver } from "./postgres-driver";
import { fleetRecords, parentRecords, poolRecords, snapshotRecords, vmRecords } from "./records-clones";
import { datastoreRecords, layerRecords, replicaRecords, templateRecords } from "./records-disks";
import { apiTokenRecords, hostRecords, jobRecords, settingRecords } from "./records-jobs";
import { SqliteDriver } from "./sqlite-driver";

/**
 * One advisory lock every engine's inventory transaction takes on PostgreSQL, as SQLite's
 * BEGIN IMMEDIATE takes its one writer lock: the engine's transactions read, check and then
 * write (a free pool copy, a free name, a job still queued), and that is only safe when no other
 * transaction writes in between, whichever engine runs it. Reads outside transactions, and job
 * claims (SKIP LOCKED), do not wait for it.
 */
const INVENTORY_WRITER_LOCK = 0x636c6677; // "clfw"

/** The transaction the current async call runs in, while it is open. */
const openTx = new AsyncLocalStorage<{ open: boolean }>();

/**
 * The driver, refusing statements issued from inside an open transaction: such a statement
 * would wait for that transaction (SQLite's one connection) or for its row locks (PostgreSQL)
 * while the transaction waits for it. A clear error instead of a hang.
 */
function refuseInsideTx(what: string): void {
  if (openTx.getStore()?.open) {
    throw new Error(`inventory misuse: ${what} was issued on the top-level inventory from inside tx(); use the inventory tx() passes to its function`);
  }
}

function outsideTx(driver: SqlDriver): SqlSession {
  const check = (sql: string) => refuseInsideTx(`a statement (${sql.slice(0, 60)}…)`);
  return {
    dialect: driver.dialect,
    query: (sql, params) => (check(sql), driver.query(sql, params)),
    run: (sql, params) => (check(sql), driver.run(sql, params)),
    exec: (sql) => (check(sql), driver.exec(sql)),
  };
}

/** The inventory over one SQL driver; inside `tx` the same records bound to the transaction. */
class SqlInventory implements Inventory {
  readonly dialect;
  readonly datastores;
  readonly layers;
  readonly templates;
  readonly replicas;
  readonly pools;
  readonly fleets;
  readonly vms;
  readonly parents;
  readonly snapshots;
  readonly hosts;
  readonly jobs;
  readonly tokens;
  readonly settings;

  constructor(
    private readonly driver: SqlDriver,
    /** The transaction this inventory is bound to, or null at top level. */
    private readonly session: SqlSession | null,
  ) {
    const db = session ?? outsideTx(driver);
    // Writes that span tables run in the caller's transaction, or in one of their own.
    const inTx = <T>(fn: (s: SqlSession) => Promise<T>): Promise<T> => {
      if (session) return fn(session);
      refuseInsideTx("a write of several statements");
      return driver.tx(fn);
    };
    this.dialect = driver.dialect;
    this.datastores = datastoreRecords(db);
    this.layers = layerRecords(db);
    this.templates = templateRecords(db);
    this.replicas = replicaRecords(db, inTx);
    this.pools = poolRecords(db);
    this.fleets = fleetRecords(db);
    this.vms = vmRecords(db);
    this.parents = parentRecords(db);
    this.snapshots = snapshotRecords(db);
    this.hosts = hostRecords(db);
    this.jobs = jobRecords(db, inTx);
    this.tokens = apiTokenRecords(db);
    this.settings = settingRecords(db);
  }

  get location(): string {
    return this.driver.location;
  }

  tx<T>(fn: (inv: Inventory) => Promise<T>): Promise<T> {
    // A transaction inside a transaction is part of it: one commit, one rollback.
    if (this.session) return fn(this);
    const scope = { open: true };
    // Timers and callbacks started inside keep the scope, but it is closed by the time they run.
    return openTx
      .run(scope, () =>
        this.driver.tx(async (s) => {
          if (s.dialect === "postgres") await s.query("SELECT pg_advisory_xact_lock(?)", [INVENTORY_WRITER_LOCK]);
          return fn(new SqlInventory(this.driver, s));
        }),
      )
      .finally(() => (scope.open = false));
  }

  async lock(name: string): Promise<void> {
    if (!this.session) throw new Error(`inventory lock ${JSON.stringify(name)}: take locks inside tx(), they last until it ends`);
    // SQLite: the transaction already holds the database's one writer lock.
    if (this.session.dialect === "postgres") await this.session.query("SELECT pg_advisory_xact_lock(hashtext(?))", [name]);
  }

  hold(name: string): Promise<() => Promise<void>> {
    if (this.session) throw new Error(`inventory hold ${JSON.stringify(name)}: hold outside tx(); a transaction's own locks are lock()`);
    return this.driver.holdLock(name);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}

/**
 * Opens the inventory at `where` — a postgres:// URL, or the path of a SQLite file (created
 * when missing, readable by the owner only) — and brings its schema to this code's version.
 * Throws `InventoryUnavailableError` when a server cannot be reached, `SchemaTooNewError` for a
 * database written by a newer clonefleet.
 */
export async function openInventory(where: string): Promise<Inventory> {
  let driver: SqlDriver;
  if (/^postgres(ql)?:\/\//.test(where)) {
    driver = await PostgresDriver.open(where);
  } else {
    restrictInventoryFiles(where);
    driver = SqliteDriver.open(where);
  }
  try {
    await migrateSql(driver);
  } catch (err) {
    await driver.close();
    throw err;
  }
  return new SqlInventory(driver, null);
}
