import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { MIGRATIONS } from "../../engine/store/migrations";
import { InventoryCopyError, INVENTORY_TABLES, copyInventory } from "../../engine/store/sql/inventory-copy";
import { migrateSql } from "../../engine/store/sql/migrate";
import { PostgresDriver } from "../../engine/store/sql/postgres-driver";
import { SqliteDriver } from "../../engine/store/sql/sqlite-driver";
import { cliRunner } from "../support/cli";
import { startTestEngine, type TestEngine } from "../support/engine";
import { makeEveryResource } from "../support/every-resource";
import { startPostgresCluster, type PostgresCluster } from "../../scripts/cluster/postgres";
import { killAllVms } from "../support/vms";

// A user who outgrows one machine copies the engine's SQLite inventory into PostgreSQL with
// `clonefleet inventory migrate`; everything they had must arrive, and nothing may be half-copied.
let cluster: PostgresCluster;
let te: TestEngine | null = null;
let dir: string;
let inventoryFile: string;
const { cli } = cliRunner(() => ({ endpoint: "http://127.0.0.1:1", stateDir: path.join(dir, "state") }));

beforeAll(async () => {
  cluster = await startPostgresCluster();
  dir = mkdtempSync(path.join(tmpdir(), "cf-invmig-"));
  te = await startTestEngine({ dir });
  await makeEveryResource(te.client, dir);
  await te.engine.close();
  await killAllVms(path.join(te.stateDir, "vms"));
  te = null;
  inventoryFile = path.join(dir, "state", "inventory.sqlite");
}, 600_000);

afterAll(async () => {
  if (te) await te.engine.close();
  if (dir) {
    await killAllVms(path.join(dir, "state", "vms"));
    rmSync(dir, { recursive: true, force: true });
  }
  await cluster?.stop();
});

async function rowsOf(db: SqliteDriver | PostgresDriver, table: string, column: string): Promise<string[]> {
  return (await db.query<Record<string, unknown>>(`SELECT ${column} AS v FROM ${table}`)).map((r) => String(r.v)).sort();
}

test("inventory migrate copies every record of a real inventory into PostgreSQL, with ids and content IDs unchanged", async () => {
  const url = await cluster.createDatabase("fleet");
  const r = await cli(["--json", "inventory", "migrate", "--from", inventoryFile, "--to", url]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout) as { to: string; rows: Record<string, number> };
  expect(report.to).not.toContain(cluster.password);

  const source = SqliteDriver.open(inventoryFile, { mustExist: true });
  const target = await PostgresDriver.open(url);
  try {
    for (const table of INVENTORY_TABLES) {
      const key = table === "settings" ? "key" : table === "replica_layers" ? "path" : table === "pool_copies" ? "layer_id" : "id";
      expect({ table, ids: await rowsOf(target, table, key) }).toEqual({ table, ids: await rowsOf(source, table, key) });
      expect(report.rows[table]).toBe((await rowsOf(source, table, key)).length);
    }
    // Every kind the user made is there, not just empty tables compared equal.
    for (const table of ["datastores", "templates", "replicas", "pools", "pool_copies", "fleets", "vms", "snapshots", "instant_clone_parents", "hosts", "jobs"]) {
      expect({ table, rows: report.rows[table] > 0 }).toEqual({ table, rows: true });
    }
    expect(await rowsOf(target, "disk_layers", "content_id")).toEqual(await rowsOf(source, "disk_layers", "content_id"));
    expect(await rowsOf(target, "vms", "name")).toEqual(await rowsOf(source, "vms", "name"));
  } finally {
    await source.close();
    await target.close();
  }

  // A second copy into the same database is refused and writes nothing.
  const again = await cli(["inventory", "migrate", "--from", inventoryFile, "--to", url]);
  expect(again.code).toBe(1);
  expect(again.stderr).toMatch(/CF_INVENTORY_COPY: the target inventory is not empty/);
  const check = await PostgresDriver.open(url);
  try {
    expect(await check.query("SELECT COUNT(*) AS n FROM vms")).toEqual([{ n: report.rows.vms }]);
  } finally {
    await check.close();
  }
}, 120_000);

test("a database holding somebody else's tables is refused, and left as it was", async () => {
  const url = await cluster.createDatabase("theirs");
  const db = await PostgresDriver.open(url);
  try {
    await db.exec("CREATE TABLE invoices (id TEXT)");
    const r = await cli(["inventory", "migrate", "--from", inventoryFile, "--to", url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/target database is not empty \(it holds tables invoices\)/);
    expect((await db.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema()")).map((x) => x.t)).toEqual(["invoices"]);
  } finally {
    await db.close();
  }
});

test("bad arguments and an unreachable server are clear errors that create nothing", async () => {
  const missing = path.join(dir, "nope.sqlite");
  const a = await cli(["inventory", "migrate", "--from", missing, "--to", "postgres://u:p@127.0.0.1:1/x"]);
  expect(a.code).toBe(1);
  expect(a.stderr).toMatch(/--from: .*nope\.sqlite does not exist/);
  expect(existsSync(missing)).toBe(false);

  const b = await cli(["inventory", "migrate", "--from", inventoryFile, "--to", "mysql://u:secret@h/x"]);
  expect(b.code).toBe(1);
  expect(b.stderr).toMatch(/--to: expected a postgres:\/\/ URL/);
  expect(b.stderr).not.toContain("secret");

  const c = await cli(["inventory", "migrate", "--from", inventoryFile, "--to", `postgres://clonefleet:wrong@127.0.0.1:${cluster.port}/postgres`]);
  expect(c.code).toBe(1);
  expect(c.stderr).toMatch(/CF_INVENTORY_UNAVAILABLE: inventory postgres:\/\/clonefleet:\*\*\*@127\.0\.0\.1:\d+\/postgres is unavailable: password authentication failed/);
});

test("an inventory at an older schema is refused with what to do, and the target stays empty", async () => {
  const file = path.join(dir, "old.sqlite");
  const old = SqliteDriver.open(file);
  const url = await cluster.createDatabase("from_old");
  const target = await PostgresDriver.open(url);
  try {
    await migrateSql(old, MIGRATIONS.slice(0, -1));
    const err = await copyInventory(old, target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryCopyError);
    expect((err as Error).message).toMatch(/start this clonefleet's engine on it once/);
    expect(await target.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")).toEqual([]);
  } finally {
    await old.close();
    await target.close();
  }
});
