import { promises as fs } from "node:fs";
import * as path from "node:path";
import pino, { type Logger } from "pino";
import { allHandlers, JobRunner, recoverAtStart, type RecoveryReport } from "../jobs";
import { observeInventory, openInventory, type Inventory, type InventoryObserver } from "../store";
import { EngineMetrics, type MetricsSources } from "../metrics";
import { EngineEvents } from "./event-stream";
import { hostTokenHash, loadOrCreateHostToken, loadOrCreateToken } from "./auth";
import { fdLogDestination } from "./log-destination";
import { buildApi } from "./server";
import type { FastifyInstance } from "fastify";
import { ENGINE_VERSION } from "../version";
import { admitHost, checkHostName, DEFAULT_HEARTBEAT_INTERVAL_MS, defaultParentTmpfsDir, directContext, flushDeferredCatalogSyncs, HostMonitor, MISSED_HEARTBEATS_FOR_DOWN, PoolRefill, restartLostHostVms, vmStateRootFor, WarmChildren, type PoolRefillOptions, type WarmChildrenOptions } from "../ops";
import { datastorePathProblem, JOB_KINDS, LOCAL_HOST_ID, pathIsWithin } from "../model";
import { applyEngineUmask } from "../disk";

export interface EngineOptions {
  /** Folder for the inventory (`inventory.sqlite`), the token and logs; created when missing. */
  stateDir: string;
  /**
   * Where the inventory lives instead of `<stateDir>/inventory.sqlite`: a `postgres://` URL
   * (engines on many hosts share it) or another SQLite file.
   */
  inventory?: string;
  host: string;
  port: number;
  /** Serve without a token; allowed only on a loopback address, and logged as a warning. */
  insecureNoAuth?: boolean;
  jobConcurrency?: number;
  /** Bandwidth cap for background disk copies, bytes per second. */
  copyRateLimitBytesPerSec?: number;
  /** How the background pool refill runs (copies at once, retry back-off). */
  pools?: PoolRefillOptions;
  /** How the pre-start loop of instant-clone children runs (interval, retry back-off). */
  warmChildren?: WarmChildrenOptions;
  /** The host's accelerator setting for VMs (default auto: KVM when /dev/kvm opens, else TCG). */
  accel?: "auto" | "kvm" | "tcg";
  /** Where instant-clone parents keep their RAM file unless a request says: tmpfs (default) or datastore. */
  parentRamLocation?: "tmpfs" | "datastore";
  /** The tmpfs folder for parents' RAM files (default `/dev/shm/clonefleet/<hash of the state folder>`). */
  parentTmpfsDir?: string;
  /** Folders outside datastores where backups may be written (`--backup-dir`); each must exist. */
  backupDirs?: string[];
  /** Children of one instant-clone request started at once (default 8). */
  instantCloneConcurrency?: number;
  /**
   * The host this engine is (S6; default `local`). Another engine started on the same state
   * folder with another name joins the same inventory as another host.
   */
  hostName?: string;
  /** How often this host writes its heartbeat (default 2 s); a host silent for 3 intervals is down. */
  heartbeatIntervalMs?: number;
  log?: Logger;
}

/** A running engine. */
export interface RunningEngine {
  url: string;
  token: string | null;
  store: Inventory;
  runner: JobRunner;
  recovery: RecoveryReport;
  /** Keeps the pools on this host's datastores (and, on host `local`, on shared ones) at their size in the background. */
  refill: PoolRefill;
  /** This host's pre-started instant-clone children. */
  warm: WarmChildren;
  /** The host this engine is, and its heartbeat. */
  hostId: string;
  hosts: HostMonitor;
  app: FastifyInstance;
  /** The change feed (`GET /events`) and the Prometheus metrics (`GET /metrics`). */
  events: EngineEvents;
  metrics: EngineMetrics;
  close(): Promise<void>;
}


const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * Starts the engine on the embedded default (SQLite in the state folder): opens the
 * inventory, recovers interrupted jobs and reconciles datastores before taking any request,
 * then serves the API. Throws when the state folder cannot be used or the address is taken.
 */
export async function startEngine(opts: EngineOptions): Promise<RunningEngine> {
  const log = opts.log ?? pino({ level: process.env.CLONEFLEET_LOG_LEVEL ?? "info" }, fdLogDestination(2));
  if (opts.insecureNoAuth && !LOOPBACK.has(opts.host)) {
    throw new Error(`--insecure-no-auth is only allowed on a loopback address, not ${opts.host}`);
  }
  const stateDir = path.resolve(opts.stateDir);
  const hostId = checkHostName(opts.hostName ?? LOCAL_HOST_ID);
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const hostDownAfterMs = heartbeatIntervalMs * MISSED_HEARTBEATS_FOR_DOWN;
  // Guest disks, backups and RAM must not be readable by other local users, whichever of the
  // engine, qemu-img, cp or QEMU creates them.
  applyEngineUmask();
  await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const backupDirs = await resolveBackupDirs(opts.backupDirs ?? [], stateDir);
  await warnOnLooseStateDir(stateDir, log);
  // Every inventory call is timed and every committed write feeds /events and the job metrics.
  const observer: InventoryObserver = {};
  const store = observeInventory(await openInventory(opts.inventory ?? path.join(stateDir, "inventory.sqlite")), observer);
  const sources: MetricsSources = { store, hostId };
  const metrics = new EngineMetrics(sources);
  const events = new EngineEvents(store);
  observer.call = (method, seconds) => metrics.query(method, seconds);
  // A write has committed by now: a failing reader must not turn it into an error for its caller.
  observer.committed = (writes) => {
    events.publish(writes).catch((err: unknown) => log.error({ err }, "publishing inventory changes failed"));
  };
  events.onJobFinished((job) => metrics.jobFinished(job));
  const token = opts.insecureNoAuth ? null : await loadOrCreateToken(stateDir);
  // Even without API auth: the host routes stop QEMUs and remove folders.
  const hostToken = await loadOrCreateHostToken(stateDir);
  const runner = new JobRunner(store, log, allHandlers, opts.jobConcurrency ?? 2, {
    copyRateLimitBytesPerSec: opts.copyRateLimitBytesPerSec,
    stateDir,
    backupDirs,
    vmStateRoot: vmStateRootFor(stateDir, hostId),
    accel: opts.accel ?? "auto",
    parentRamLocation: opts.parentRamLocation ?? "tmpfs",
    parentTmpfsDir: opts.parentTmpfsDir ?? defaultParentTmpfsDir(stateDir),
    instantCloneConcurrency: opts.instantCloneConcurrency,
    hostId,
    hostToken,
    hostDownAfterMs,
  });
  let hosts: HostMonitor | null = null;
  let warm: WarmChildren | null = null;
  try {
    // Before recovery: recovering another live engine's jobs and VMs would break them.
    await admitHost(store, hostId, hostDownAfterMs);
    const recovery = await recoverAtStart(store, runner, log);
    // Made after recovery, so no fill starts before interrupted work is settled and orphans removed.
    const refill = new PoolRefill(store, log.child({ component: "pool-refill" }), { copyRateLimitBytesPerSec: opts.copyRateLimitBytesPerSec, hostId }, opts.pools);
    warm = new WarmChildren(store, log.child({ component: "warm-children" }), runner.settings, opts.warmChildren);
    runner.warm = warm;
    sources.refill = refill;
    sources.warm = warm;
    if (token === null) log.warn("serving WITHOUT authentication (--insecure-no-auth): anyone on this host can use the API");
    const app = await buildApi(
      { store, runner, log, settings: runner.settings, version: ENGINE_VERSION, startedAt: new Date().toISOString(), authMode: token ? "token" : "none", refill, warm, hostId, hostDownAfterMs, events, metrics },
      token,
    );
    await app.listen({ host: opts.host, port: opts.port });
    const addr = app.server.address();
    const port = typeof addr === "object" && addr ? addr.port : opts.port;
    const hostPart = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
    hosts = new HostMonitor(
      store,
      log.child({ component: "hosts" }),
      { id: hostId, apiUrl: `http://${hostPart}:${port}`, stateDir, vmStateRoot: vmStateRootFor(stateDir, hostId), tokenHash: hostTokenHash(hostToken) },
      heartbeatIntervalMs,
      async (lost) => {
        const report = await restartLostHostVms(directContext(store, log.child({ component: "ha-restart" }), undefined, runner.settings), lost, async (vmId) => {
          await runner.submit(JOB_KINDS.startVm, { id: vmId });
        });
        if (report.notFenced.length > 0) log.debug({ lost, vms: report.notFenced }, "HA VMs of a lost host wait: a process still holds their disks");
      },
    );
    await hosts.start();
    const monitor = hosts;
    const warmChildren = warm;
    runner.start();
    // Each host fills the pools on its own datastores; host local also those on shared ones.
    refill.start();
    warm.start();
    // Jobs that hand out pool copies change pools; look at them again at once.
    const stopNudging = runner.onChange(() => refill.nudge());
    log.info({ url: `http://${hostPart}:${port}`, stateDir, hostId }, "engine listening");
    return {
      url: `http://${hostPart}:${port}`,
      token,
      store,
      runner,
      recovery,
      refill,
      warm: warmChildren,
      hostId,
      hosts: monitor,
      app,
      events,
      metrics,
      close: async () => {
        await app.close();
        stopNudging();
        await refill.close();
        await runner.close();
        await warmChildren.close();
        await monitor.close();
        await flushDeferredCatalogSyncs(store);
        await store.close();
        // The parents' tmpfs folder goes with the engine once no parent keeps RAM in it (rmdir
        // refuses a folder that is not empty); the next capture makes it again.
        if (runner.settings.parentTmpfsDir) await fs.rmdir(runner.settings.parentTmpfsDir).catch(() => undefined);
      },
    };
  } catch (err) {
    await hosts?.close();
    await warm?.close();
    await runner.close();
    await flushDeferredCatalogSyncs(store);
    await store.close();
    throw err;
  }
}

/** The backup folders resolved (symlinks followed); each must exist, lie outside system folders and stay clear of the state folder. */
async function resolveBackupDirs(dirs: string[], stateDir: string): Promise<string[]> {
  const realState = await fs.realpath(stateDir);
  const out: string[] = [];
  for (const dir of dirs) {
    const real = await fs.realpath(path.resolve(dir)).catch((err: Error) => {
      throw new Error(`--backup-dir ${dir}: ${err.message}`);
    });
    if (!(await fs.stat(real)).isDirectory()) throw new Error(`--backup-dir ${dir}: not a directory`);
    const issue = datastorePathProblem(real);
    if (issue) throw new Error(`--backup-dir ${dir} (${real}) ${issue}`);
    if (pathIsWithin(real, realState) || pathIsWithin(realState, real)) throw new Error(`--backup-dir ${dir}: must stay clear of the state folder ${realState}`);
    out.push(real);
  }
  return out;
}

/**
 * Logs a warning when the state folder lets other users in: its files that matter (token,
 * inventory, VM state folders) are private on their own, but the folder is the user's to
 * choose, and tightening, say, a home folder behind their back would surprise them.
 */
async function warnOnLooseStateDir(stateDir: string, log: Logger): Promise<void> {
  const mode = (await fs.stat(stateDir)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    log.warn({ stateDir, mode: mode.toString(8).padStart(4, "0") }, "the state folder is open to other users; chmod 700 it (its token, inventory and VM folders stay private)");
  }
}
