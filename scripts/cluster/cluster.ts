/**
 * A clonefleet cluster on one machine, for tests and demos: PostgreSQL on the bridge, one engine
 * per host, each in its own network namespace with its own state folder, one shared datastore
 * folder and one datastore of each host's own. The hosts share nothing but the network, the
 * inventory and the datastores declared shared (here every folder is on the one filesystem, so
 * "host-local" is a declaration the engines keep, not an enforced boundary).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import * as path from "node:path";
import { ClonefleetClient } from "../../engine/client";
import { LOCAL_HOST_ID } from "../../engine/model";
import { PROJECT_ROOT } from "../../engine/version";
import { createClusterNetwork, type ClusterNetwork } from "./network";
import { startPostgresCluster, type PostgresCluster } from "./postgres";
import { killAllVms } from "./vm-cleanup";

/** One host of the cluster: its engine, where it listens, its own datastore. */
export interface ClusterHost {
  id: string;
  /** Its API, on its namespace's address. */
  url: string;
  /** This host's own API token (each state folder has its own), and a client using it. */
  token: string;
  client: ClonefleetClient;
  stateDir: string;
  netns: string;
  /** Its datastore of its own (declared `host_id`). */
  localDatastoreId: string;
  /** The engine process, while it runs. */
  engine: ChildProcess | null;
}

export interface NamespaceCluster {
  hosts: ClusterHost[];
  inventoryUrl: string;
  /** The datastore every host sees at the same path. */
  sharedDatastoreId: string;
  network: ClusterNetwork;
  /** SIGKILLs a host's engine (its QEMU processes run on). */
  killHost(id: string): Promise<void>;
  /** Starts a host's engine again (after killHost). */
  startHost(id: string): Promise<void>;
  /** Cuts a host's link (veth down) or restores it. */
  setLink(id: string, up: boolean): void;
  /** Stops every engine and QEMU, PostgreSQL, the namespaces and the bridge; removes the folder. */
  stop(): Promise<void>;
}

export interface NamespaceClusterOptions {
  /** Folder for state folders, datastores and logs; made when missing, removed by stop(). */
  dir: string;
  hosts?: number;
  /** Each engine's heartbeat; a host is down after three missed ones. */
  heartbeatIntervalMs?: number;
  /** Called with each line of progress. */
  say?: (line: string) => void;
}

const PORT = 7420;
const START_TIMEOUT_MS = 60_000;

/** Host ids: the first is `local` (it refills pools on shared datastores), the others h2, h3, … */
export function clusterHostIds(count: number): string[] {
  return Array.from({ length: count }, (_, i) => (i === 0 ? LOCAL_HOST_ID : `h${i + 1}`));
}

export async function startNamespaceCluster(opts: NamespaceClusterOptions): Promise<NamespaceCluster> {
  const count = opts.hosts ?? 3;
  const say = opts.say ?? (() => undefined);
  const heartbeat = String(opts.heartbeatIntervalMs ?? 500);
  await fs.mkdir(opts.dir, { recursive: true });
  const network = createClusterNetwork(count);
  let pg: PostgresCluster | null = null;
  const hosts: ClusterHost[] = [];
  const ids = clusterHostIds(count);

  const spawnHost = async (i: number): Promise<ChildProcess> => {
    const id = ids[i];
    const stateDir = path.join(opts.dir, "hosts", id);
    const args = [path.join(PROJECT_ROOT, "bin", "clonefleet"), "engine", "serve", "--state-dir", stateDir, "--inventory", inventoryUrl];
    args.push("--listen", `${network.hosts[i].address}:${PORT}`, "--host-name", id, "--heartbeat-interval-ms", heartbeat);
    const log = await fs.open(path.join(opts.dir, `${id}.log`), "a");
    const child = spawn("ip", ["netns", "exec", network.hosts[i].netns, process.execPath, ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, CLONEFLEET_LOG_LEVEL: process.env.CLONEFLEET_LOG_LEVEL ?? "warn" },
    });
    let err = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`host ${id} did not start within ${START_TIMEOUT_MS / 1000} s:\n${err}`)), START_TIMEOUT_MS);
      child.stderr!.on("data", (d: Buffer) => {
        void log.write(d);
        err += d.toString();
        if (/listening on http:\/\//.test(err)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`host ${id} exited with ${code ?? signal}:\n${err}`));
      });
    });
    child.once("exit", () => void log.close());
    return child;
  };

  let inventoryUrl = "";
  const stop = async (): Promise<void> => {
    for (const h of hosts) await stopProcess(h.engine, "SIGTERM");
    for (const [i, id] of ids.entries()) {
      const stateDir = path.join(opts.dir, "hosts", id);
      await killAllVms(i === 0 ? path.join(stateDir, "vms") : path.join(stateDir, "hosts", id, "vms"));
    }
    await pg?.stop();
    network.remove();
    await fs.rm(opts.dir, { recursive: true, force: true });
  };

  try {
    say(`network: bridge ${network.bridge} ${network.gateway}/24, hosts ${network.hosts.map((h) => `${h.netns}=${h.address}`).join(", ")}`);
    pg = await startPostgresCluster({ host: network.gateway, allowFrom: `${network.gateway}/24` });
    inventoryUrl = await pg.createDatabase("clonefleet");
    say(`inventory: PostgreSQL on ${network.gateway}:${pg.port}`);
    for (const [i, id] of ids.entries()) {
      const stateDir = path.join(opts.dir, "hosts", id);
      const engine = await spawnHost(i);
      const token = readFileSync(path.join(stateDir, "token"), "utf8").trim();
      const url = `http://${network.hosts[i].address}:${PORT}`;
      hosts.push({ id, url, token, client: new ClonefleetClient({ endpoint: url, token }), stateDir, netns: network.hosts[i].netns, localDatastoreId: "", engine });
      say(`host ${id}: ${url} (namespace ${network.hosts[i].netns}, state ${stateDir})`);
    }
    const first = hosts[0].client;
    const sharedPath = path.join(opts.dir, "shared");
    const shared = await first.datastores.create({ name: "shared", path: sharedPath, shared: true });
    for (const h of hosts) {
      const own = await first.datastores.create({ name: `${h.id}-local`, path: path.join(opts.dir, `${h.id}-local`), host_id: h.id });
      h.localDatastoreId = own.id;
    }
    say(`datastores: shared ${shared.id} at ${sharedPath}; one of each host's own`);
    const byId = (id: string): ClusterHost => {
      const h = hosts.find((x) => x.id === id);
      if (!h) throw new Error(`no host ${id} in this cluster (hosts: ${ids.join(", ")})`);
      return h;
    };
    return {
      hosts,
      inventoryUrl,
      sharedDatastoreId: shared.id,
      network,
      async killHost(id) {
        const h = byId(id);
        await stopProcess(h.engine, "SIGKILL");
        h.engine = null;
      },
      async startHost(id) {
        const h = byId(id);
        if (h.engine) throw new Error(`host ${id} runs already`);
        h.engine = await spawnHost(ids.indexOf(id));
      },
      setLink(id, up) {
        network.setLink(ids.indexOf(byId(id).id), up);
      },
      stop,
    };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/** Sends `signal` to an engine started through `ip netns exec` and waits for it to exit. */
async function stopProcess(child: ChildProcess | null, signal: NodeJS.Signals): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}
