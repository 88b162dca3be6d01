import type { Inventory } from "../inventory";
import { restrictInventoryFiles } from "../sqlite";
import type { SqlDriver, SqlSession } from "./driver";
import { migrateSql } from "./migrate";
import { PostgresDriver } from "./postgres-driver";
import { fleetRecords, parentRecords, poolRecords, snapshotRecords, vmRecords } from "./records-clones";
import { datastoreRecords, layerRecords, replicaRecords, templateRecords } from "./records-disks";
import { hostRecords, jobRecords, settingRecords } from "./records-jobs";
import { SqliteDriver } from "./sqlite-driver";

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
  readonly settings;

  constructor(
    private readonly driver: SqlDriver,
    /** The transaction this inventory is bound to, or null at top level. */
    private readonly session: SqlSession | null,
  ) {
    const db = session ?? driver;
    // Writes that span tables run in the caller's transaction, or in one of their own.
    const inTx = <T>(fn: (s: SqlSession) => Promise<T>): Promise<T> => (session ? fn(session) : driver.tx(fn));
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
    this.settings = settingRecords(db);
  }

  get location(): string {
    return this.driver.location;
  }

  tx<T>(fn: (inv: Inventory) => Promise<T>): Promise<T> {
    // A transaction inside a transaction is part of it: one commit, one rollback.
    if (this.session) return fn(this);
    return this.driver.tx((s) => fn(new SqlInventory(this.driver, s)));
  }

  async lock(name: string): Promise<void> {
    if (!this.session) throw new Error(`inventory lock ${JSON.stringify(name)}: take locks inside tx(), they last until it ends`);
    // SQLite: the transaction already holds the database's one writer lock.
    if (this.session.dialect === "postgres") await this.session.query("SELECT pg_advisory_xact_lock(hashtext(?))", [name]);
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
