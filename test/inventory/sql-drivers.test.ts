import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { LATEST_SCHEMA_VERSION } from "../../engine/store/migrations";
import { InventoryUnavailableError, StoreConstraintError, type SqlDriver } from "../../engine/store/sql/driver";
import { INVENTORY_TABLES } from "../../engine/store/sql/inventory-copy";
import { migrateSql, schemaVersionOf } from "../../engine/store/sql/migrate";
import { PostgresDriver } from "../../engine/store/sql/postgres-driver";
import { SqliteDriver } from "../../engine/store/sql/sqlite-driver";
import { startPostgresCluster, type PostgresCluster } from "../../scripts/cluster/postgres";

// The same contract, run against both databases: what the inventory code above the driver may
// rely on whichever one a user chose.
let cluster: PostgresCluster;
let dir: string;
let seq = 0;

beforeAll(async () => {
  cluster = await startPostgresCluster();
  dir = mkdtempSync(path.join(tmpdir(), "cf-sql-"));
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const drivers: [string, () => Promise<SqlDriver>][] = [
  ["sqlite", async () => SqliteDriver.open(path.join(dir, `inv-${++seq}.db`))],
  ["postgres", async () => PostgresDriver.open(await cluster.createDatabase(`inv_${++seq}`))],
];

describe.each(drivers)("%s driver", (_name, open) => {
  let db: SqlDriver;
  beforeEach(async () => {
    db = await open();
    await migrateSql(db);
  });
  afterEach(async () => db.close());

  test("migrations bring an empty database to this code's schema, with every inventory table, and a second run does nothing", async () => {
    expect(await schemaVersionOf(db)).toBe(LATEST_SCHEMA_VERSION);
    const tables =
      db.dialect === "postgres"
        ? await db.query<{ name: string }>("SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()")
        : await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
    expect(tables.map((t) => t.name).sort()).toEqual([...INVENTORY_TABLES, "schema_migrations"].sort());
    expect((await migrateSql(db)).applied).toEqual([]);
  });

  test("sizes beyond 2^31 come back as the numbers written", async () => {
    await db.run("INSERT INTO datastores (id, name, path, created_at) VALUES (?, ?, ?, ?)", ["ds1", "one", "/srv/one", "2026-12-07T00:00:00Z"]);
    const size = 5 * 2 ** 40;
    await db.run(
      "INSERT INTO disk_layers (id, datastore_id, path, format, virtual_size_bytes, content_id, owner_kind, owner_id, state, created_at) VALUES (?, ?, ?, 'qcow2', ?, ?, 'template', ?, 'ready', ?)",
      ["l1", "ds1", "/srv/one/a.qcow2", size, "sha256:aa", "t1", "2026-12-07T00:00:00Z"],
    );
    const [row] = await db.query<{ virtual_size_bytes: number }>("SELECT virtual_size_bytes FROM disk_layers WHERE id = ?", ["l1"]);
    expect(row.virtual_size_bytes).toBe(size);
  });

  test("a duplicate name is a constraint error naming the column, and changes nothing", async () => {
    await db.run("INSERT INTO datastores (id, name, path, created_at) VALUES (?, ?, ?, ?)", ["ds1", "one", "/srv/one", "t"]);
    const err = await db.run("INSERT INTO datastores (id, name, path, created_at) VALUES (?, ?, ?, ?)", ["ds2", "one", "/srv/two", "t"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreConstraintError);
    expect((err as StoreConstraintError).column).toBe("name");
    expect(await db.query("SELECT id FROM datastores")).toEqual([{ id: "ds1" }]);
  });

  test("a foreign key to a missing row is refused", async () => {
    const err = await db
      .run("INSERT INTO templates (id, name, datastore_id, disk_layer_id, memory_mb, vcpus, source_path, state, created_at) VALUES ('t1', 'x', 'nope', 'nope', 64, 1, '/x', 'ready', 't')")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreConstraintError);
  });

  test("a transaction that throws leaves nothing behind, and a statement issued outside it meanwhile is not undone", async () => {
    const boom = db
      .tx(async (s) => {
        await s.run("INSERT INTO settings (key, value) VALUES ('a', '1')");
        await new Promise((r) => setTimeout(r, 50));
        throw new Error("boom");
      })
      .catch((e: Error) => e.message);
    const outside = db.run("INSERT INTO settings (key, value) VALUES ('b', '2')");
    expect(await boom).toBe("boom");
    await outside;
    expect(await db.query("SELECT key FROM settings ORDER BY key")).toEqual([{ key: "b" }]);
  });

  test("a committed transaction's rows are all there", async () => {
    const n = await db.tx(async (s) => {
      await s.run("INSERT INTO settings (key, value) VALUES ('a', '1')");
      return s.run("UPDATE settings SET value = '3' WHERE key = ?", ["a"]);
    });
    expect(n).toBe(1);
    expect(await db.query("SELECT key, value FROM settings")).toEqual([{ key: "a", value: "3" }]);
  });
});

describe("postgres connection faults", () => {
  test("a wrong password is one clear error that names the server without the password", async () => {
    const url = (await cluster.createDatabase(`inv_${++seq}`)).replace(cluster.password, "wrong-password");
    const err = await PostgresDriver.open(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryUnavailableError);
    expect((err as Error).message).toContain(`127.0.0.1:${cluster.port}`);
    expect((err as Error).message).not.toContain("wrong-password");
    expect((err as Error).message).toMatch(/password authentication failed/);
  });

  test("nothing listening is one clear error", async () => {
    const err = await PostgresDriver.open("postgres://u:p@127.0.0.1:1/x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryUnavailableError);
    expect((err as Error).message).toMatch(/ECONNREFUSED|connect/);
  });

  test("a server restart fails the statements caught in it clearly, and the driver carries on afterwards", async () => {
    const db = await PostgresDriver.open(await cluster.createDatabase(`inv_${++seq}`));
    try {
      await migrateSql(db);
      await db.run("INSERT INTO settings (key, value) VALUES ('k', 'v')");
      await cluster.restart();
      // The pool's idle connection was cut: the first statement may fail, clearly, or get a new one.
      const first = await db.query("SELECT value FROM settings").catch((e: unknown) => e);
      if (first instanceof Error) expect(first).toBeInstanceOf(InventoryUnavailableError);
      expect(await db.query("SELECT value FROM settings")).toEqual([{ value: "v" }]);
    } finally {
      await db.close();
    }
  });
});
