import type { Command } from "commander";
import { DEFAULT_PORT } from "../connection";

/** Parses `HOST:PORT` (IPv6 in brackets); throws a usage error naming the value. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`--listen: expected HOST:PORT such as 127.0.0.1:${DEFAULT_PORT}, got ${JSON.stringify(value)}`);
  return { host: m[1] ?? m[2], port };
}

/** Parses sizes such as `512K`, `64M`, `1G` (binary units) into bytes; throws naming the flag. */
export function parseSize(flag: string, value: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(value.trim());
  if (!m || Number(m[1]) === 0) throw new Error(`${flag}: expected a positive size such as 64M, got ${JSON.stringify(value)}`);
  const shift = { "": 0, K: 10, M: 20, G: 30 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
  return Number(m[1]) * 2 ** shift;
}

/** `clonefleet engine serve`. */
export function registerEngineCommands(program: Command): void {
  const engine = program.command("engine").description("run the engine");
  engine
    .command("serve")
    .description("serve the engine API on the embedded default (SQLite in the state folder)")
    .requiredOption("--state-dir <dir>", "folder for the inventory, the API token and logs")
    .option("--inventory <url|file>", "the inventory: postgres://user:password@host:port/db shared by many engines, or a SQLite file (default <state-dir>/inventory.sqlite; or CLONEFLEET_INVENTORY_URL)")
    .option("--listen <host:port>", "address to listen on", `127.0.0.1:${DEFAULT_PORT}`)
    .option("--insecure-no-auth", "serve without a token (loopback addresses only; for development)")
    .option("--job-concurrency <n>", "jobs run at once", "2")
    .option("--copy-rate-limit <size>", "cap background disk copies at this many bytes per second (K, M, G suffixes)")
    .option("--pool-fill-concurrency <n>", "disk pool copies made at once in the background", "2")
    .option("--accel <auto|kvm|tcg>", "accelerator for VMs on this host (auto: KVM when /dev/kvm opens)", "auto")
    .option("--parent-ram-location <tmpfs|datastore>", "where instant-clone parents keep their RAM file unless a request says", "tmpfs")
    .option("--parent-tmpfs-dir <dir>", "tmpfs folder for parents' RAM files (default /dev/shm/clonefleet/<engine>)")
    .option("--backup-dir <dir>", "a folder outside the datastores where backups may be written (repeatable)", (dir: string, dirs: string[]) => [...dirs, dir], [] as string[])
    .option("--instant-clone-concurrency <n>", "children of one instant-clone request started at once", "8")
    .option("--host-name <name>", "the host this engine is; another name on the same state folder joins its inventory as another host", "local")
    .option("--heartbeat-interval-ms <ms>", "how often this host heartbeats; a host silent for 3 intervals is down", "2000")
    .action(async (opts: { stateDir: string; inventory?: string; listen: string; insecureNoAuth?: boolean; jobConcurrency: string; copyRateLimit?: string; poolFillConcurrency: string; accel: string; parentRamLocation: string; parentTmpfsDir?: string; backupDir: string[]; instantCloneConcurrency: string; hostName: string; heartbeatIntervalMs: string }) => {
      const { host, port } = parseListen(opts.listen);
      const inventory = inventoryOption(opts.inventory ?? process.env.CLONEFLEET_INVENTORY_URL);
      if (!["auto", "kvm", "tcg"].includes(opts.accel)) throw new Error(`--accel: expected auto, kvm or tcg, got ${JSON.stringify(opts.accel)}`);
      if (!["tmpfs", "datastore"].includes(opts.parentRamLocation)) throw new Error(`--parent-ram-location: expected tmpfs or datastore, got ${JSON.stringify(opts.parentRamLocation)}`);
      const cloneConcurrency = Number(opts.instantCloneConcurrency);
      if (!Number.isInteger(cloneConcurrency) || cloneConcurrency < 1 || cloneConcurrency > 256) throw new Error(`--instant-clone-concurrency: expected an integer from 1 to 256, got ${JSON.stringify(opts.instantCloneConcurrency)}`);
      const heartbeatIntervalMs = Number(opts.heartbeatIntervalMs);
      if (!Number.isInteger(heartbeatIntervalMs) || heartbeatIntervalMs < 50 || heartbeatIntervalMs > 60_000) {
        throw new Error(`--heartbeat-interval-ms: expected a whole number from 50 to 60000, got ${JSON.stringify(opts.heartbeatIntervalMs)}`);
      }
      // The engine serves on when its stderr fails (a full disk, a reader gone): without a
      // listener a failed write of this stream would be an uncaught error.
      process.stderr.on("error", () => undefined);
      // Loaded here, not at the top: every other command would pay for the server's modules.
      const { startEngine } = await import("../../api/engine");
      const running = await startEngine({
        stateDir: opts.stateDir,
        inventory,
        host,
        port,
        insecureNoAuth: Boolean(opts.insecureNoAuth),
        jobConcurrency: Number(opts.jobConcurrency) || 2,
        copyRateLimitBytesPerSec: opts.copyRateLimit ? parseSize("--copy-rate-limit", opts.copyRateLimit) : undefined,
        pools: { concurrency: Math.max(1, Number(opts.poolFillConcurrency) || 2) },
        accel: opts.accel as "auto" | "kvm" | "tcg",
        parentRamLocation: opts.parentRamLocation as "tmpfs" | "datastore",
        parentTmpfsDir: opts.parentTmpfsDir,
        backupDirs: opts.backupDir,
        instantCloneConcurrency: cloneConcurrency,
        hostName: opts.hostName,
        heartbeatIntervalMs,
      });
      process.stderr.write(`clonefleet engine listening on ${running.url} (host ${running.hostId}, state in ${opts.stateDir}, inventory ${running.store.location})\n`);
      let closing = false;
      const stop = async () => {
        if (closing) return;
        closing = true;
        await running.close();
        process.exit(0);
      };
      process.on("SIGTERM", () => void stop());
      process.on("SIGINT", () => void stop());
    });
}

/** The `--inventory` value checked: a PostgreSQL URL naming a database, or the path of a SQLite file; undefined for the default. */
function inventoryOption(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1];
  if (scheme === undefined) return value;
  if (scheme !== "postgres" && scheme !== "postgresql") throw new Error(`--inventory: expected a postgres:// URL or a SQLite file path, got a ${scheme}:// URL`);
  // The host may be empty (a Unix socket given as ?host=/folder); the database may not.
  if (!/^postgres(ql)?:\/\/[^/]*\/[^/?#]+/.test(value)) throw new Error("--inventory: the URL names no database (postgres://user:password@host:port/<database>)");
  return value;
}
