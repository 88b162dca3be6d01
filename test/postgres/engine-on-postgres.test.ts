import { execFile } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { Client } from "pg";
import { ApiError } from "../../engine/client";
import { PROJECT_ROOT } from "../../engine/version";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { startPostgresCluster, type PostgresCluster } from "../../scripts/cluster/postgres";

// `engine serve --inventory postgres://…` as users run it: bad URLs at start, and PostgreSQL
// restarted under a running engine.
jest.setTimeout(120_000);
const run = promisify(execFile);

let cluster: PostgresCluster;
let dir: string;
let seq = 0;

beforeAll(async () => {
  cluster = await startPostgresCluster();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-pg-engine-"));
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** Runs `engine serve` expecting it to refuse at start; answers its exit code and stderr. */
async function serveRefused(stateDir: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  const bin = path.join(PROJECT_ROOT, "bin", "clonefleet");
  try {
    await run(process.execPath, [bin, "engine", "serve", "--state-dir", stateDir, "--listen", "127.0.0.1:0", ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? -1, stderr: e.stderr ?? "" };
  }
  throw new Error("the engine started; expected it to refuse");
}

async function tablesOf(url: string): Promise<string[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()");
    return r.rows.map((x) => x.table_name);
  } finally {
    await c.end();
  }
}

test("a wrong password, nothing listening or a URL of another kind: one clear error, exit 1, no token and no tables", async () => {
  const url = await cluster.createDatabase(`inv_${++seq}`);
  const stateDir = path.join(dir, "refused");
  const wrong = await serveRefused(stateDir, ["--inventory", url.replace(cluster.password, "not-the-password")]);
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(new RegExp(`^error: CF_INVENTORY_UNAVAILABLE: inventory postgres://clonefleet:\\*\\*\\*@127\\.0\\.0\\.1:${cluster.port}/inv_${seq} is unavailable: password authentication failed`));
  expect(wrong.stderr).not.toContain("not-the-password");
  expect(wrong.stderr.trim().split("\n")).toHaveLength(1);

  const nobody = await serveRefused(stateDir, [], { CLONEFLEET_INVENTORY_URL: "postgres://u:p@127.0.0.1:1/x" });
  expect(nobody.code).toBe(1);
  expect(nobody.stderr).toMatch(/inventory postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x is unavailable/);

  const other = await serveRefused(stateDir, ["--inventory", "mysql://u:p@127.0.0.1/x"]);
  expect(other.code).not.toBe(0);
  expect(other.stderr).toMatch(/--inventory: expected a postgres:\/\/ URL or a SQLite file path, got a mysql:\/\/ URL/);
  const noDb = await serveRefused(stateDir, ["--inventory", `postgres://clonefleet@127.0.0.1:${cluster.port}/`]);
  expect(noDb.stderr).toMatch(/--inventory: the URL names no database/);

  expect(existsSync(path.join(stateDir, "token"))).toBe(false);
  expect(existsSync(path.join(stateDir, "inventory.sqlite"))).toBe(false);
  expect(await tablesOf(url)).toEqual([]);
});

describe("an engine whose PostgreSQL restarts under it", () => {
  let engine: EngineProcess;
  let url: string;

  beforeAll(async () => {
    url = await cluster.createDatabase(`inv_${++seq}`);
    engine = await spawnEngine(path.join(dir, "restart"), ["--inventory", url]);
  });
  afterAll(async () => engine?.stop());

  test("its listening line names the inventory without the password; its records are in PostgreSQL, none in SQLite", async () => {
    expect(engine.stderr()).toContain(`inventory postgres://clonefleet:***@127.0.0.1:${cluster.port}/inv_${seq})`);
    expect(engine.stderr()).not.toContain(cluster.password);
    await fs.mkdir(path.join(dir, "ds1"));
    await engine.client.datastores.create({ name: "one", path: path.join(dir, "ds1") });
    expect(await tablesOf(url)).toEqual(expect.arrayContaining(["datastores", "jobs", "vms", "schema_migrations"]));
    expect(existsSync(path.join(dir, "restart", "inventory.sqlite"))).toBe(false);
  });

  test("requests caught in the restart fail with 503 CF_INVENTORY_UNAVAILABLE, never 500; afterwards the engine works and every job ran once", async () => {
    const outcomes = new Set<string>();
    let polling = true;
    const poll = (async () => {
      while (polling) {
        try {
          await engine.client.datastores.list();
          outcomes.add("200");
        } catch (err) {
          outcomes.add(err instanceof ApiError ? `${err.status} ${err.code}` : `error ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await cluster.restart();
    await new Promise((r) => setTimeout(r, 1500));
    polling = false;
    await poll;
    expect([...outcomes].filter((o) => o !== "200" && o !== "503 CF_INVENTORY_UNAVAILABLE")).toEqual([]);

    await fs.mkdir(path.join(dir, "ds2"));
    const ds = await engine.client.datastores.create({ name: "two", path: path.join(dir, "ds2") });
    expect((await engine.client.datastores.list()).map((d) => d.name)).toEqual(["one", "two"]);
    const jobs = await engine.client.jobs.list();
    expect(jobs.filter((j) => j.kind === "datastore.create").map((j) => [j.state, j.target_id ?? null])).toEqual(
      expect.arrayContaining([["succeeded", ds.id]]),
    );
    expect(jobs.every((j) => j.state === "succeeded")).toBe(true);
    expect(engine.child.exitCode).toBeNull();
  });
});
