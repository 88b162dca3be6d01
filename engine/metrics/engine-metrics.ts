import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Job } from "../model";
import { JOB_KINDS, LOCAL_HOST_ID } from "../model";
import type { ApplyFleetResult, InstantCloneResult, MigrateVmResult, PoolFillStatus, VmView, WarmChildren } from "../ops";
import { listPoolViews } from "../ops";
import type { Inventory } from "../store";

/** Seconds buckets for work that takes from milliseconds (a pool hand-out) to many minutes (an import). */
const JOB_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** Seconds buckets for a guest standing still (fork stun, migration downtime): milliseconds to seconds. */
const PAUSE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds buckets for API requests and inventory queries. */
const FAST_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** What the scrape-time gauges read. */
export interface MetricsSources {
  store: Inventory;
  hostId: string;
  refill?: PoolFillStatus;
  warm?: WarmChildren;
}

/**
 * The engine's Prometheus metrics, on a registry of its own (two engines in one process keep
 * theirs apart). Labels are bounded: job kinds, outcomes, methods, route patterns, store
 * methods and pool template/datastore names come from code or config, never VM or job ids.
 */
export class EngineMetrics {
  readonly registry = new Registry();
  private readonly jobs: Counter<"kind" | "outcome">;
  private readonly jobSeconds: Histogram<"kind">;
  private readonly clones: Counter<"provisioned_by">;
  private readonly cloneSeconds: Histogram<"provisioned_by">;
  private readonly forkStun: Histogram;
  private readonly migrationDowntime: Histogram;
  private readonly requestSeconds: Histogram<"method" | "route" | "status_class">;
  private readonly querySeconds: Histogram<"operation">;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    this.jobs = new Counter({ name: "clonefleet_jobs_total", help: "Jobs finished, by kind and outcome (succeeded, failed, cancelled).", labelNames: ["kind", "outcome"], registers });
    this.jobSeconds = new Histogram({ name: "clonefleet_job_duration_seconds", help: "From a job's start to its end, by kind.", labelNames: ["kind"], buckets: JOB_BUCKETS, registers });
    this.clones = new Counter({ name: "clonefleet_clones_total", help: "VMs made, by how their disk was provisioned (pool, copy, linked, fork, instant-clone).", labelNames: ["provisioned_by"], registers });
    this.cloneSeconds = new Histogram({
      name: "clonefleet_clone_duration_seconds",
      help: "Time to make one VM: a vm.create job, a fork job, or an instant clone's time to running; by provisioning.",
      labelNames: ["provisioned_by"],
      buckets: JOB_BUCKETS,
      registers,
    });
    this.forkStun = new Histogram({ name: "clonefleet_fork_stun_seconds", help: "How long a parent VM stood still while it was forked.", buckets: PAUSE_BUCKETS, registers });
    this.migrationDowntime = new Histogram({ name: "clonefleet_migration_downtime_seconds", help: "Guest downtime at a live migration's switch-over, as QEMU measured it.", buckets: PAUSE_BUCKETS, registers });
    this.requestSeconds = new Histogram({
      name: "clonefleet_http_request_duration_seconds",
      help: "API request latency by method, route pattern and status class.",
      labelNames: ["method", "route", "status_class"],
      buckets: FAST_BUCKETS,
      registers,
    });
    this.querySeconds = new Histogram({ name: "clonefleet_inventory_query_duration_seconds", help: "Inventory (store) call latency by operation; tx spans a whole transaction.", labelNames: ["operation"], buckets: FAST_BUCKETS, registers });

    new Gauge({
      name: "clonefleet_pool_ready",
      help: "Copies a disk pool can hand out now, by template and datastore name.",
      labelNames: ["template", "datastore"],
      registers,
      async collect() {
        this.reset();
        for (const p of await poolFacts(sources)) this.set(p.labels, p.ready);
      },
    });
    new Gauge({
      name: "clonefleet_pool_size",
      help: "The size a disk pool is kept at, by template and datastore name.",
      labelNames: ["template", "datastore"],
      registers,
      async collect() {
        this.reset();
        for (const p of await poolFacts(sources)) this.set(p.labels, p.size);
      },
    });
    new Gauge({
      name: "clonefleet_pool_filling",
      help: "Copies a disk pool is making now, by template and datastore name.",
      labelNames: ["template", "datastore"],
      registers,
      async collect() {
        this.reset();
        for (const p of await poolFacts(sources)) this.set(p.labels, p.filling);
      },
    });
    new Gauge({
      name: "clonefleet_qemu_processes",
      help: "QEMU processes this host runs: VMs, and instant-clone children pre-started for requests (warm).",
      labelNames: ["role"],
      registers,
      async collect() {
        const counts = await qemuProcessCounts(sources);
        this.set({ role: "vm" }, counts.vm);
        this.set({ role: "warm-child" }, counts.warm);
      },
    });
  }

  /** Counts a job that just ended and observes what its result measured. */
  jobFinished(job: Job): void {
    const kind = job.kind;
    this.jobs.inc({ kind, outcome: job.state });
    const seconds = job.startedAt && job.finishedAt ? (Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000 : null;
    if (seconds !== null) this.jobSeconds.observe({ kind }, seconds);
    if (job.state !== "succeeded" || job.result === null) return;
    switch (kind) {
      case JOB_KINDS.applyFleet:
        for (const added of (job.result as ApplyFleetResult).added) this.clones.inc({ provisioned_by: added.provisionedBy });
        break;
      case JOB_KINDS.createVm: {
        const vm = job.result as VmView;
        this.clones.inc({ provisioned_by: vm.provisionedBy });
        if (seconds !== null) this.cloneSeconds.observe({ provisioned_by: vm.provisionedBy }, seconds);
        break;
      }
      case JOB_KINDS.forkVm: {
        const vm = job.result as VmView;
        this.clones.inc({ provisioned_by: "fork" });
        if (seconds !== null) this.cloneSeconds.observe({ provisioned_by: "fork" }, seconds);
        if (typeof vm.stunMs === "number") this.forkStun.observe(vm.stunMs / 1000);
        break;
      }
      case JOB_KINDS.instantClone:
        for (const child of (job.result as InstantCloneResult).children) {
          this.clones.inc({ provisioned_by: "instant-clone" });
          this.cloneSeconds.observe({ provisioned_by: "instant-clone" }, child.readyMs / 1000);
        }
        break;
      case JOB_KINDS.migrateVm: {
        const downtime = (job.result as MigrateVmResult).downtimeMs;
        if (typeof downtime === "number") this.migrationDowntime.observe(downtime / 1000);
        break;
      }
    }
  }

  /** Observes one answered API request; `route` is the route pattern (`/vms/:id`), never the URL. */
  request(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    this.requestSeconds.observe({ method, route: route ?? "(no route)", status_class: `${Math.floor(statusCode / 100)}xx` }, seconds);
  }

  /** Observes one inventory call. */
  query(operation: string, seconds: number): void {
    this.querySeconds.observe({ operation }, seconds);
  }

  /** The scrape: every metric in the Prometheus text format. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Each pool with its template and datastore names as labels. */
async function poolFacts(sources: MetricsSources): Promise<{ labels: { template: string; datastore: string }; ready: number; size: number; filling: number }[]> {
  const [templates, datastores] = await Promise.all([sources.store.templates.list(), sources.store.datastores.list()]);
  const names = (records: { id: string; name: string }[], id: string) => records.find((r) => r.id === id)?.name ?? id;
  return (await listPoolViews(sources.store, {}, sources.refill)).map((p) => ({
    labels: { template: names(templates, p.templateId), datastore: names(datastores, p.datastoreId) },
    ready: p.ready,
    size: p.size,
    filling: p.filling,
  }));
}

/** VMs of this host whose QEMU process is alive, and the pre-started children it keeps. */
async function qemuProcessCounts(sources: MetricsSources): Promise<{ vm: number; warm: number }> {
  let vm = 0;
  for (const v of await sources.store.vms.list()) {
    if ((v.hostId ?? LOCAL_HOST_ID) !== sources.hostId || v.powerState !== "running" || !v.pid) continue;
    if (processAlive(v.pid)) vm++;
  }
  let warm = 0;
  if (sources.warm) for (const p of await sources.store.parents.list()) warm += sources.warm.readyCount(p.id);
  return { vm, warm };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but is someone else's.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
