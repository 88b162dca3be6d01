import { createHash } from "node:crypto";
import * as path from "node:path";
import { startPostgresCluster, type PostgresCluster } from "../../scripts/cluster/postgres";

/**
 * Which inventory the engines of a test file use. A file that calls `useInventory("postgres")`
 * before it loads a suite (test/postgres/) runs that suite with every engine on a throwaway
 * PostgreSQL cluster: one database per state folder, so engines that share a state folder (the
 * hosts of one inventory) share one database. The cluster stops after the file's last test.
 * Otherwise engines keep the embedded default, SQLite in their state folder.
 */
type TestInventoryKind = "sqlite" | "postgres";

const KEY = "__clonefleetTestInventory";
interface FileState {
  kind: TestInventoryKind;
  cluster?: Promise<PostgresCluster>;
  databases: Map<string, Promise<string>>;
}

// Jest gives each test file a fresh global object: this state is the file's own.
function state(): FileState {
  const g = globalThis as unknown as Record<string, FileState | undefined>;
  g[KEY] ??= { kind: "sqlite", databases: new Map() };
  return g[KEY];
}

/** Makes the engines this test file starts keep their inventory in `kind`. */
export function useInventory(kind: TestInventoryKind): void {
  state().kind = kind;
  if (kind === "postgres") {
    afterAll(async () => {
      const cluster = state().cluster;
      state().cluster = undefined;
      if (cluster) await (await cluster).stop();
    });
  }
}

/** The inventory location for an engine on `stateDir`: undefined for the default SQLite file. */
export async function testInventoryFor(stateDir: string): Promise<string | undefined> {
  const s = state();
  if (s.kind !== "postgres") return undefined;
  const key = path.resolve(stateDir);
  let url = s.databases.get(key);
  if (!url) {
    s.cluster ??= startPostgresCluster();
    const name = `inv_${createHash("sha256").update(key).digest("hex").slice(0, 16)}`;
    url = s.cluster.then((c) => c.createDatabase(name));
    s.databases.set(key, url);
  }
  return url;
}
