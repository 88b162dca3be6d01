import axios, { AxiosError, type AxiosInstance, type Method } from "axios";
import type {
  ChainWire,
  CreateDatastoreBody,
  DatastoreWire,
  ImportTemplateBody,
  JobWire,
  TemplateWire,
} from "../api/schemas";
import { ApiError, ApiUnreachableError, JobFailedError, JobTimeoutError } from "./errors";

export * from "./errors";
export type { ChainWire, CreateDatastoreBody, DatastoreWire, ImportTemplateBody, JobWire, TemplateWire };

export interface ClientOptions {
  endpoint: string;
  token?: string | null;
  /** Per-request timeout (default 60 s); job waits use their own. */
  requestTimeoutMs?: number;
  /** Attempts for idempotent calls when the connection fails (default 4). */
  retries?: number;
}

const RETRYABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EAI_AGAIN", "ENOTFOUND", "ECONNABORTED"]);

/**
 * The typed client of the engine's HTTP API, one method per route. Throws only ApiError
 * (the engine answered with an error) or ApiUnreachableError; job helpers add JobFailedError
 * and JobTimeoutError. Idempotent calls are retried on connection errors.
 */
export class ClonefleetClient {
  private readonly http: AxiosInstance;
  readonly endpoint: string;
  private readonly retries: number;

  constructor(opts: ClientOptions) {
    this.endpoint = opts.endpoint.replace(/\/+$/, "");
    this.retries = opts.retries ?? 4;
    this.http = axios.create({
      baseURL: this.endpoint,
      timeout: opts.requestTimeoutMs ?? 60_000,
      headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {},
      validateStatus: () => true,
      proxy: false,
    });
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
  };

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
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.http.request({
          method,
          url,
          // Body-less POSTs send `{}` so that every POST is JSON (axios would label it a form).
          data: opts.body ?? (method === "POST" ? {} : undefined),
          params: opts.query,
          timeout: opts.timeoutMs,
          headers: opts.idempotencyKey ? { "idempotency-key": opts.idempotencyKey } : undefined,
        });
        if (res.status >= 200 && res.status < 300) return res.data as T;
        const e = (res.data as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
        throw new ApiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `the engine answered HTTP ${res.status}`, e?.field);
      } catch (err) {
        if (err instanceof ApiError) throw err;
        const code = err instanceof AxiosError ? (err.code ?? "") : "";
        if (attempt < attempts && RETRYABLE_CODES.has(code)) {
          await new Promise((r) => setTimeout(r, 100 * 2 ** (attempt - 1)));
          continue;
        }
        throw new ApiUnreachableError(this.endpoint, err instanceof Error ? err.message : String(err));
      }
    }
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}
