import type * as http from "node:http";
import type {
  CatalogRescanWire,
  ChainWire,
  CreateDatastoreBody,
  CreateReplicaBody,
  DatastoreWire,
  ImportTemplateBody,
  JobWire,
  RegisterDiskWire,
  RepairReplicaBody,
  ReplicaWire,
  TemplateWire,
} from "../api/schemas";
import { ApiError, ApiUnreachableError, JobFailedError, JobTimeoutError, PoolWaitTimeoutError } from "./errors";
import { EventReader } from "./event-reader";
import type { CreatePoolBody, CreateVmBody, FleetApplyWire, FleetBody, FleetWire, ForkVmBody, PoolWire, StartVmBody, StopVmBody, UpdateVmBody, VmWire } from "../api/schemas";
import type { BackupVmBody, CreateSnapshotBody, SnapshotWire } from "../api/schemas";
import type { CreateParentBody, InstantCloneBody, InstantCloneResultWire, ParentWire, UpdateParentBody } from "../api/schemas";
import type { HostWire, MigrateResultWire, MigrateVmBody, MigrationStepWire } from "../api/schemas";
import type { CreatedTokenWire, CreateTokenBody, TokenWire } from "../api/schemas";

export * from "./errors";
export { EventReader, type StreamEvent } from "./event-reader";
export type { CreatePoolBody, CreateVmBody, FleetApplyWire, FleetBody, FleetWire, ForkVmBody, PoolWire, StartVmBody, StopVmBody, UpdateVmBody, VmWire };
export type { ChainWire, CreateDatastoreBody, DatastoreWire, ImportTemplateBody, JobWire, TemplateWire };
export type { BackupVmBody, CreateSnapshotBody, SnapshotWire };
export type { CreateParentBody, InstantCloneBody, InstantCloneResultWire, ParentWire, UpdateParentBody };
export type { HostWire, MigrateResultWire, MigrateVmBody, MigrationStepWire };
export type { CreatedTokenWire, CreateTokenBody, TokenWire };
export type { CatalogRescanWire, CreateReplicaBody, RegisterDiskWire, RepairReplicaBody, ReplicaWire };

export interface ClientOptions {
  endpoint: string;
  token?: string | null;
  /** Per-request timeout (default 60 s); job waits use their own. */
  requestTimeoutMs?: number;
  /** Attempts for idempotent calls when the connection fails (default 4). */
  retries?: number;
}

/** How often a live wait reads the job anyway (changes on other hosts raise no event here). */
const LIVE_WAIT_RECHECK_MS = 5000;

const RETRYABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "ECONNABORTED"]);

/**
 * The typed client of the engine's HTTP API, one method per route. Throws only ApiError
 * (the engine answered with an error) or ApiUnreachableError; job helpers add JobFailedError
 * and JobTimeoutError. Idempotent calls are retried on connection errors.
 */
export class ClonefleetClient {
  readonly endpoint: string;
  private readonly retries: number;
  private readonly token: string | null;
  private readonly requestTimeoutMs: number;
  private readonly base: URL;
  /** One keep-alive agent per client: a refresh makes a request per resource, and each would otherwise open a connection. */
  private agent: http.Agent | undefined;

  constructor(opts: ClientOptions) {
    this.endpoint = opts.endpoint.replace(/\/+$/, "");
    this.token = opts.token ?? null;
    this.retries = opts.retries ?? 4;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 60_000;
    this.base = new URL(this.endpoint);
  }

  readonly datastores = {
    create: (body: CreateDatastoreBody) => this.call<DatastoreWire>("POST", "/datastores", { body }),
    list: () => this.call<DatastoreWire[]>("GET", "/datastores"),
    /** Null when the datastore does not exist. */
    get: (id: string) => this.orNull(this.call<DatastoreWire>("GET", `/datastores/${enc(id)}`)),
    delete: (id: string) => this.call<void>("DELETE", `/datastores/${enc(id)}`),
  };

  readonly templates = {
    /** Starts an import; answers the job. Pass an idempotency key to make retries safe. */
    import: (body: ImportTemplateBody, idempotencyKey?: string) =>
      this.call<JobWire>("POST", "/templates", { body, idempotencyKey }),
    list: (datastoreId?: string) => this.call<TemplateWire[]>("GET", "/templates", { query: datastoreId ? { datastore_id: datastoreId } : undefined }),
    get: (id: string) => this.orNull(this.call<TemplateWire>("GET", `/templates/${enc(id)}`)),
    delete: (id: string) => this.call<void>("DELETE", `/templates/${enc(id)}`),
  };

  readonly jobs = {
    list: (opts: { state?: string; limit?: number } = {}) =>
      this.call<JobWire[]>("GET", "/jobs", { query: { ...(opts.state ? { state: opts.state } : {}), ...(opts.limit ? { limit: String(opts.limit) } : {}) } }),
    get: (id: string) => this.call<JobWire>("GET", `/jobs/${enc(id)}`),
    cancel: (id: string) => this.call<JobWire>("POST", `/jobs/${enc(id)}/cancel`),
    /** One long-poll: answers once the job ends or `timeoutSeconds` pass. */
    waitOnce: (id: string, timeoutSeconds: number) =>
      this.call<JobWire>("GET", `/jobs/${enc(id)}/wait`, { query: { timeout_seconds: String(timeoutSeconds) }, timeoutMs: (timeoutSeconds + 30) * 1000 }),
  };

  readonly disks = {
    chain: (path: string) => this.call<ChainWire>("GET", "/disks/chain", { query: { path } }),
    /** Gives content IDs to the layers of a chain made by hand inside a datastore; layers already known keep theirs. */
    register: (path: string) => this.call<RegisterDiskWire>("POST", "/disks/register", { body: { path } }),
  };

  readonly replicas = {
    /** Starts a replication (S7); answers the job, whose result is the replica. Pass an idempotency key to make retries safe. */
    create: (body: CreateReplicaBody, idempotencyKey?: string) => this.call<JobWire>("POST", "/replicas", { body, idempotencyKey }),
    list: (targetDatastoreId?: string) =>
      this.call<ReplicaWire[]>("GET", "/replicas", { query: targetDatastoreId ? { target_datastore_id: targetDatastoreId } : undefined }),
    /** Null when the replica does not exist; `state` and `drift` are measured on the target now. */
    get: (id: string) => this.orNull(this.call<ReplicaWire>("GET", `/replicas/${enc(id)}`)),
    /** Starts a repair that copies only what the replica lost; answers the job. */
    repair: (id: string, body: RepairReplicaBody = {}, idempotencyKey?: string) =>
      this.call<JobWire>("POST", `/replicas/${enc(id)}/repair`, { body, idempotencyKey }),
    delete: (id: string) => this.call<void>("DELETE", `/replicas/${enc(id)}`),
  };

  readonly catalogs = {
    /** Rebuilds a datastore's catalog from its files and records; reports what it kept, dropped and could not vouch for. */
    rescan: (datastoreId: string) => this.call<CatalogRescanWire>("POST", `/datastores/${enc(datastoreId)}/catalog/rescan`),
  };

  readonly pools = {
    /** Creates a disk pool; the engine fills it in the background (see `waitPoolReady`). */
    create: (body: CreatePoolBody) => this.call<PoolWire>("POST", "/pools", { body }),
    list: (filter: { templateId?: string; datastoreId?: string } = {}) =>
      this.call<PoolWire[]>("GET", "/pools", {
        query: { ...(filter.templateId ? { template_id: filter.templateId } : {}), ...(filter.datastoreId ? { datastore_id: filter.datastoreId } : {}) },
      }),
    /** Null when the pool does not exist; `ready` counts copies that can be handed out now. */
    get: (id: string) => this.orNull(this.call<PoolWire>("GET", `/pools/${enc(id)}`)),
    /** Sets the pool's size; shrinking discards copies beyond it, any change retries a pool that was backing off. */
    resize: (id: string, size: number) => this.call<PoolWire>("PUT", `/pools/${enc(id)}`, { body: { size } }),
    delete: (id: string) => this.call<void>("DELETE", `/pools/${enc(id)}`),
  };

  readonly fleets = {
    /** Declares a fleet and starts applying it; answers the job, whose `target_id` is the new fleet and whose result is a FleetApplyWire. */
    create: (body: FleetBody, idempotencyKey?: string) => this.call<JobWire>("POST", "/fleets", { body, idempotencyKey }),
    /** Redeclares a fleet (the same declaration again repairs drift) and starts applying it; answers the job. */
    update: (id: string, body: FleetBody, idempotencyKey?: string) => this.call<JobWire>("PUT", `/fleets/${enc(id)}`, { body, idempotencyKey }),
    list: (filter: { templateId?: string; namePrefix?: string } = {}) =>
      this.call<FleetWire[]>("GET", "/fleets", {
        query: { ...(filter.templateId ? { template_id: filter.templateId } : {}), ...(filter.namePrefix ? { name_prefix: filter.namePrefix } : {}) },
      }),
    /** Null when the fleet does not exist; members whose disk vanished show `state: "drifted"`. */
    get: (id: string) => this.orNull(this.call<FleetWire>("GET", `/fleets/${enc(id)}`)),
    delete: (id: string) => this.call<void>("DELETE", `/fleets/${enc(id)}`),
    /**
     * Creates the fleet, or redeclares the one with the same name prefix (the template's name
     * when none is given), and starts applying it; answers the job.
     */
    apply: async (body: FleetBody, idempotencyKey?: string): Promise<JobWire> => {
      const prefix = body.name_prefix ?? (await this.templates.get(body.template_id))?.name;
      const existing = prefix ? (await this.fleets.list({ namePrefix: prefix }))[0] : undefined;
      return existing ? this.fleets.update(existing.id, body, idempotencyKey) : this.fleets.create(body, idempotencyKey);
    },
  };

  readonly vms = {
    /** Starts creating a VM from a template (`clone_mode` pool, full or linked); answers the job, whose result is the VM. */
    create: (body: CreateVmBody, idempotencyKey?: string) => this.call<JobWire>("POST", "/vms", { body, idempotencyKey }),
    list: (filter: { fleetId?: string; datastoreId?: string; templateId?: string } = {}) =>
      this.call<VmWire[]>("GET", "/vms", {
        query: {
          ...(filter.fleetId ? { fleet_id: filter.fleetId } : {}),
          ...(filter.datastoreId ? { datastore_id: filter.datastoreId } : {}),
          ...(filter.templateId ? { template_id: filter.templateId } : {}),
        },
      }),
    /** Null when the VM does not exist; `state` is `drifted` when its disk vanished. */
    get: (id: string) => this.orNull(this.call<VmWire>("GET", `/vms/${enc(id)}`)),
    delete: (id: string) => this.call<void>("DELETE", `/vms/${enc(id)}`),
    /** Changes a VM's settings in place (`stop_timeout_seconds`, null = the default; the migration policy) and answers with it. */
    update: (id: string, body: UpdateVmBody) => this.call<VmWire>("PATCH", `/vms/${enc(id)}`, { body }),
    /** Powers a VM on (idempotent) and answers with it. */
    start: (id: string, body: StartVmBody = {}) => this.call<VmWire>("POST", `/vms/${enc(id)}/start`, { body }),
    /** Powers a VM off (graceful for `timeout_seconds`, then quit, then kill) and answers with it. */
    stop: (id: string, body: StopVmBody = {}) => this.call<VmWire>("POST", `/vms/${enc(id)}/stop`, { body }),
    /** Forks a VM into a child named `body.name`; answers with the `vm.fork` job (its result is the child). */
    fork: (id: string, body: ForkVmBody, idempotencyKey?: string) => this.call<JobWire>("POST", `/vms/${enc(id)}/fork`, { body, idempotencyKey }),
    /** Live-migrates a running VM to host `body.host_id` (S6); answers with the `vm.migrate` job (its result is a MigrateResultWire, its `steps` the timeline). */
    migrate: (id: string, body: MigrateVmBody, idempotencyKey?: string) => this.call<JobWire>("POST", `/vms/${enc(id)}/migrate`, { body, idempotencyKey }),
    /** Backs a VM up into `target_path` (snapshot, flattened copy, consolidation); answers with the `vm.backup` job. */
    backup: (id: string, body: BackupVmBody, idempotencyKey?: string) => this.call<JobWire>("POST", `/vms/${enc(id)}/backup`, { body, idempotencyKey }),
  };

  readonly hosts = {
    /** Every host with its health (`status` up or down, judged from its heartbeat now). */
    list: () => this.call<HostWire[]>("GET", "/hosts"),
    /** Null when the host does not exist. */
    get: (id: string) => this.orNull(this.call<HostWire>("GET", `/hosts/${enc(id)}`)),
  };

  readonly tokens = {
    /** Issues a scoped token; the answer holds its secret, which the engine does not keep. */
    create: (body: CreateTokenBody) => this.call<CreatedTokenWire>("POST", "/tokens", { body }),
    list: () => this.call<TokenWire[]>("GET", "/tokens"),
    /** Revokes a token by id or name. */
    revoke: (idOrName: string) => this.call<void>("DELETE", `/tokens/${enc(idOrName)}`),
  };

  readonly snapshots = {
    /** Snapshots a VM; answers with the `snapshot.create` job (its result is the snapshot). */
    create: (vmId: string, body: CreateSnapshotBody, idempotencyKey?: string) => this.call<JobWire>("POST", `/vms/${enc(vmId)}/snapshots`, { body, idempotencyKey }),
    /** A VM's snapshots, oldest first. */
    list: (vmId: string) => this.call<SnapshotWire[]>("GET", `/vms/${enc(vmId)}/snapshots`),
    /** Null when the snapshot does not exist (deleted, or consolidated). */
    get: (id: string) => this.orNull(this.call<SnapshotWire>("GET", `/snapshots/${enc(id)}`)),
    /** Deletes (consolidates) a snapshot; answers with the `snapshot.delete` job. */
    delete: (id: string, opts: { speedBytesPerSec?: number } = {}, idempotencyKey?: string) =>
      this.call<JobWire>("DELETE", `/snapshots/${enc(id)}`, { query: opts.speedBytesPerSec ? { speed_bytes_per_sec: String(opts.speedBytesPerSec) } : undefined, idempotencyKey }),
  };

  readonly parents = {
    /** Captures a running VM as an instant-clone parent; answers with the `parent.create` job (its result is the parent). */
    create: (body: CreateParentBody, idempotencyKey?: string) => this.call<JobWire>("POST", "/parents", { body, idempotencyKey }),
    list: () => this.call<ParentWire[]>("GET", "/parents"),
    /** Null when the parent does not exist; `state` is `drifted` when its files vanished. */
    get: (id: string) => this.orNull(this.call<ParentWire>("GET", `/parents/${enc(id)}`)),
    /** Changes a parent's settings (`warm_count`); answers the parent. */
    update: (id: string, body: UpdateParentBody) => this.call<ParentWire>("PATCH", `/parents/${enc(id)}`, { body }),
    /** Deletes a parent; throws ApiError 409 naming its children while it has any. */
    delete: (id: string) => this.call<void>("DELETE", `/parents/${enc(id)}`),
    /** Deletes a parent once its children are gone (`wait=true`); answers with the `parent.delete` job. */
    deleteWhenChildrenGone: (id: string) => this.call<JobWire>("DELETE", `/parents/${enc(id)}`, { query: { wait: "true" } }),
    /** Starts `count` instant clones; answers with the `vm.instant-clone` job (its result lists each child and its time to running). */
    clone: (id: string, body: InstantCloneBody, idempotencyKey?: string) => this.call<JobWire>("POST", `/parents/${enc(id)}/clones`, { body, idempotencyKey }),
  };

  /**
   * Polls a pool until it holds its size, calling `onProgress` with each state seen. Resolves
   * with the pool; throws ApiError 404 when it is gone, PoolWaitTimeoutError after `timeoutMs`.
   */
  async waitPoolReady(id: string, opts: { timeoutMs?: number; intervalMs?: number; onProgress?: (pool: PoolWire) => void } = {}): Promise<PoolWire> {
    const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pool = await this.pools.get(id);
      if (!pool) throw new ApiError(404, "CF_NOT_FOUND", `pool ${JSON.stringify(id)} not found`, "id");
      opts.onProgress?.(pool);
      if (pool.ready >= pool.size) return pool;
      if (Date.now() >= deadline) throw new PoolWaitTimeoutError(id, pool.ready, pool.size, pool.last_error, timeoutMs);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
    }
  }

  /** Engine facts and the last recovery report. */
  engine(): Promise<{ version: string; started_at: string; auth: string; last_recovery: unknown }> {
    return this.call("GET", "/engine");
  }

  /**
   * Waits for a job to end, calling `onProgress` with each state seen. Resolves with the job
   * when it succeeded; throws JobFailedError when it failed or was cancelled, JobTimeoutError
   * after `timeoutMs`.
   */
  async waitJob(id: string, opts: { timeoutMs?: number; onProgress?: (job: JobWire) => void } = {}): Promise<JobWire> {
    const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
    for (;;) {
      const left = deadline - Date.now();
      const job = await this.jobs.waitOnce(id, Math.max(0, Math.min(5, Math.ceil(left / 1000))));
      opts.onProgress?.(job);
      if (job.state === "succeeded") return job;
      if (job.state === "failed" || job.state === "cancelled") {
        throw new JobFailedError(job.id, job.state, job.error?.code ?? "CF_INTERNAL", job.error?.message ?? job.state, job.error?.field);
      }
      if (Date.now() >= deadline) throw new JobTimeoutError(id, opts.timeoutMs ?? 0);
    }
  }

  /**
   * Opens `GET /events` (the token in the Authorization header); answers a reader of its events,
   * or null when the engine has no event stream. Throws ApiError when the engine refuses it.
   */
  async openEvents(signal?: AbortSignal): Promise<EventReader | null> {
    let res: Response;
    try {
      res = await fetch(`${this.endpoint}/events`, { headers: this.token ? { authorization: `Bearer ${this.token}` } : {}, signal });
    } catch (err) {
      throw new ApiUnreachableError(this.endpoint, err instanceof Error ? err.message : String(err));
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok || !res.body) {
      const e = ((await res.json().catch(() => undefined)) as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
      throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `the engine answered HTTP ${res.status}`, e?.field);
    }
    return new EventReader(res.body);
  }

  /**
   * Like waitJob, but follows the engine's event stream for the job's changes instead of
   * polling. It still reads the job every few seconds: a job another host runs raises no
   * event on this one. Falls back to waitJob when the engine has no event stream.
   */
  async waitJobLive(id: string, opts: { timeoutMs?: number; onProgress?: (job: JobWire) => void } = {}): Promise<JobWire> {
    const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
    const deadline = Date.now() + timeoutMs;
    const abort = new AbortController();
    // Opened before the job is read, so no change can fall between the two.
    const events = await this.openEvents(abort.signal);
    if (!events) return this.waitJob(id, opts);
    try {
      let job = await this.jobs.get(id);
      for (;;) {
        opts.onProgress?.(job);
        if (job.state === "succeeded") return job;
        if (job.state === "failed" || job.state === "cancelled") {
          throw new JobFailedError(job.id, job.state, job.error?.code ?? "CF_INTERNAL", job.error?.message ?? job.state, job.error?.field);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new JobTimeoutError(id, timeoutMs);
        let timer: NodeJS.Timeout | undefined;
        const tick = new Promise<"tick">((r) => (timer = setTimeout(() => r("tick"), Math.min(left, LIVE_WAIT_RECHECK_MS))));
        let next: JobWire | null = null;
        while (next === null) {
          const e = await Promise.race([events.next(), tick]);
          if (e === "tick" || e === null) break;
          const data = e.data as { type?: string; job?: JobWire };
          if (data.type === "job" && data.job?.id === id) next = data.job;
        }
        clearTimeout(timer);
        job = next ?? (await this.jobs.get(id));
      }
    } finally {
      abort.abort();
      await events.close();
    }
  }

  private async orNull<T>(p: Promise<T>): Promise<T | null> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }

  private async call<T>(
    method: Method,
    url: string,
    opts: { body?: unknown; query?: Record<string, string>; idempotencyKey?: string; timeoutMs?: number } = {},
  ): Promise<T> {
    const idempotent = method === "GET" || method === "DELETE" || method === "PUT" || opts.idempotencyKey !== undefined;
    const attempts = idempotent ? this.retries : 1;
    // Body-less POSTs send `{}` so that every POST is JSON.
    const body = opts.body ?? (method === "POST" ? {} : undefined);
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.send(method, url, body, opts);
        if (res.status >= 200 && res.status < 300) return res.data as T;
        const e = (res.data as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
        throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `the engine answered HTTP ${res.status}`, e?.field);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        const code = (err as NodeJS.ErrnoException).code ?? "";
        if (attempt < attempts && RETRYABLE_CODES.has(code)) {
          await new Promise((r) => setTimeout(r, 100 * 2 ** (attempt - 1)));
          continue;
        }
        throw new ApiUnreachableError(this.endpoint, err instanceof Error ? err.message : String(err));
      }
    }
  }

  /** One HTTP exchange; the body is JSON-decoded when the engine labels it JSON. Rejects with the socket's error (with its code) or a timeout (ECONNABORTED). */
  private send(
    method: Method,
    url: string,
    body: unknown,
    opts: { query?: Record<string, string>; idempotencyKey?: string; timeoutMs?: number },
  ): Promise<{ status: number; data: unknown }> {
    const target = new URL(this.base.pathname.replace(/\/+$/, "") + url, this.base);
    for (const [k, v] of Object.entries(opts.query ?? {})) target.searchParams.set(k, v);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = { accept: "application/json, text/plain, */*" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.idempotencyKey) headers["idempotency-key"] = opts.idempotencyKey;
    if (payload) {
      headers["content-type"] = "application/json";
      headers["content-length"] = payload.length;
    }
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    const transport = loadTransport(this.base.protocol);
    this.agent ??= new transport.Agent({ keepAlive: true });
    return new Promise((resolve, reject) => {
      const req = transport.request(target, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
        res.on("end", () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString("utf8");
          let data: unknown = text;
          if (text.length > 0 && /json/i.test(res.headers["content-type"] ?? "")) {
            try {
              data = JSON.parse(text);
            } catch {
              // Not JSON after all: the text is all there is to report.
            }
          }
          resolve({ status: res.statusCode ?? 0, data: text.length > 0 ? data : undefined });
        });
      });
      // The whole exchange, answer included, must finish in time.
      const timer = setTimeout(() => {
        const err: NodeJS.ErrnoException = new Error(`timeout of ${timeoutMs}ms exceeded`);
        err.code = "ECONNABORTED";
        req.destroy(err);
      }, timeoutMs);
      req.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(payload);
    });
  }
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

// Loaded with the first request, not with this module: the Terraform provider imports this module
// for its types and errors in every process, but only the process that configures talks HTTP.
function loadTransport(protocol: string): typeof import("node:http") {
  return protocol === "https:" ? require("node:https") : require("node:http");
}

function enc(id: string): string {
  return encodeURIComponent(id);
}
