/**
 * `node dist/scripts/cluster/main.js up [--hosts 3] [--dir DIR]`: starts a namespace cluster
 * (see cluster.ts), writes `<DIR>/cluster.json` (each host's id, URL, API token, namespace and
 * datastore) and runs until SIGTERM or SIGINT, then takes everything down. scripts/cluster.sh
 * runs it in the background (`up`) and stops it (`down`).
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { startNamespaceCluster } from "./cluster";

function parse(argv: string[]): { hosts: number; dir: string } {
  const [command, ...rest] = argv;
  if (command !== "up") throw new Error(`usage: main.js up [--hosts N] [--dir DIR] (got ${JSON.stringify(command ?? "")})`);
  const o = { hosts: 3, dir: "/tmp/clonefleet-cluster" };
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--hosts") {
      o.hosts = Number(rest[++i]);
      if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > 16) throw new Error(`--hosts: expected 1 to 16, got ${JSON.stringify(rest[i])}`);
    } else if (rest[i] === "--dir") o.dir = path.resolve(rest[++i] ?? "");
    else throw new Error(`unknown option ${rest[i]} (use --hosts N, --dir DIR)`);
  }
  return o;
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const say = (line: string) => process.stderr.write(`cluster: ${line}\n`);
  const cluster = await startNamespaceCluster({ dir: o.dir, hosts: o.hosts, say });
  const description = {
    inventory: cluster.inventoryUrl,
    shared_datastore_id: cluster.sharedDatastoreId,
    hosts: cluster.hosts.map((h) => ({ id: h.id, url: h.url, token: h.token, netns: h.netns, state_dir: h.stateDir, local_datastore_id: h.localDatastoreId })),
  };
  writeFileSync(path.join(o.dir, "cluster.json"), `${JSON.stringify(description, null, 2)}\n`, { mode: 0o600 });
  say(`up: ${path.join(o.dir, "cluster.json")}`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  say("taking the cluster down");
  await cluster.stop();
  say("down");
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
