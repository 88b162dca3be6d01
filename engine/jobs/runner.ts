import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { conflict, EngineError, errorOfRecord, internal, isEngineError, notFound } from "../errors";
import { isTerminal, LOCAL_HOST_ID, newId, nowIso, type Job, type JobError, type JobProgress } from "../model";
import type { EngineSettings, OpContext } from "../ops/context";
import { checkHostUp, DEFAULT_HEARTBEAT_INTERVAL_MS, MISSED_HEARTBEATS_FOR_DOWN, type WarmChildSource } from "../ops";
import { InventoryUnavailableError, type Inventory } from "../store";
import type { JobHandler } from "./handler";

export interface SubmitOptions {
  idempotencyKey?: string;
  /** The record the job works on when it is known up front (a fleet being applied). */
  targetId?: string;
  /** The transaction to record the job in, so that it commits with the caller's other writes. */
  inventory?: Inventory;
}

/** Progress is written at most this often; the final value is always written. */
const PROGRESS_WRITE_INTERVAL_MS = 250;

/**
 * How often the inventory is looked at for work other hosts submitted for this one, for
 * cancellations asked on other hosts and for jobs other hosts finished (S6: several engine
 * processes share one inventory and only this process's own changes raise events).
 */
const SHARED_POLL_MS = 200;

/** When the engine did not say: the default heartbeat's down threshold. */
const DEFAULT_HOST_DOWN_AFTER_MS = DEFAULT_HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_FOR_DOWN;

/**
 * How long a runner's claim on a job it runs holds unless renewed (every third of it). A job
 * whose lease lapsed belongs to a dead engine; the next engine of its host recovers it.
 */
export const JOB_LEASE_MS = 30_000;

/** The engine process a lease owner names (`<host>:<pid>:<nonce>`), when it runs on this machine. */
export function leaseOwnerAlive(owner: string): boolean {
  const pid = Number(owner.split(":").at(-2));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs persistent jobs: records them, runs up to `concurrency` at a time in this process,
 * persists progress and intent, honours cancellation, and wakes waiters when a job changes.
 */
export class JobRunner {
  private readonly handlers = new Map<string, JobHandler>();
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void>; kind: string; leaseLost: boolean }>();
  private readonly events = new EventEmitter();
  private closed = false;
  /** Per running job: writes its pending progress and answers the progress last written. */
  private readonly flushers = new Map<string, () => Promise<JobProgress>>();
  private pollTimer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  /** This runner, as job leases name it: its host, its process and a nonce. */
  readonly owner: string;
  private pumpAgain = false;
  /** Pre-started instant-clone children jobs may take (set once the engine keeps them). */
  warm: WarmChildSource | null = null;

  constructor(
    private readonly store: Inventory,
    private readonly log: Logger,
    handlers: JobHandler[],
    private readonly concurrency = 2,
    /** The engine-wide settings every op context carries. */
    readonly settings: EngineSettings = {},
  ) {
    for (const h of handlers) this.handlers.set(h.kind, h as JobHandler);
    this.owner = `${settings.hostId ?? LOCAL_HOST_ID}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.events.setMaxListeners(0);
  }

  /**
   * Records a job and schedules it. With an idempotency key already used for the same kind
   * and request, returns that job instead; with the key used for anything else, throws 409.
   */
  async submit(kind: string, request: unknown, opts: SubmitOptions = {}): Promise<{ job: Job; created: boolean }> {
    const handler = this.handlerFor(kind);
    if (this.closed) throw conflict("the engine is shutting down; try again");
    const outcome = await (opts.inventory ?? this.store).tx(async (s) => {
      if (opts.idempotencyKey) {
        const prior = await s.jobs.findByIdempotencyKey(opts.idempotencyKey);
        if (prior) {
          if (prior.kind === kind && sameJson(prior.request, request)) return { job: prior, created: false };
          throw conflict(
            `idempotency key ${JSON.stringify(opts.idempotencyKey)} was already used for a different request (job ${prior.id})`,
            "idempotency_key",
          );
        }
      }
      await handler.admit?.(s, request);
      const hostId = (await handler.hostFor?.(s, request)) ?? this.hostId;
      // Work for another host waits for its agent: refused while that agent is down, not queued for ever.
      if (hostId !== this.hostId) await checkHostUp(s, hostId, this.settings.hostDownAfterMs ?? DEFAULT_HOST_DOWN_AFTER_MS, `a ${kind} job`);
      const job: Job = {
        id: newId("job"),
        kind,
        state: "queued",
        progress: { unit: "steps", done: 0, total: 0 },
        idempotencyKey: opts.idempotencyKey ?? null,
        request,
        intent: null,
        result: null,
        error: null,
        targetId: opts.targetId ?? null,
        cancelRequested: false,
        createdAt: nowIso(),
        startedAt: null,
        finishedAt: null,
        hostId,
      };
      await s.jobs.insert(job);
      return { job, created: true };
    });
    if (outcome.created) this.pumpSoon();
    return outcome;
  }

  /** Submits a job and waits for its end (the op of another job asking another host for work); answers its result, or throws its error. */
  private async runJob(kind: string, request: unknown, signal: AbortSignal): Promise<unknown> {
    const { job } = await this.submit(kind, request);
    for (;;) {
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new EngineError("CF_CANCELLED", 409, "cancelled on request");
      const now = await this.wait(job.id, 5_000);
      if (now.state === "succeeded") return now.result;
      if (now.state === "failed" || now.state === "cancelled") {
        throw errorOfRecord(now.error ?? { code: "CF_INTERNAL", message: `job ${job.id} (${kind}) ended ${now.state}` });
      }
    }
  }

  /** The job with this id; throws 404 when unknown. */
  async get(id: string): Promise<Job> {
    const job = await this.store.jobs.get(id);
    if (!job) throw notFound("job", id, "id");
    return job;
  }

  /**
   * Asks a job to stop. A queued job is cancelled at once; a running one is aborted and ends
   * `cancelled` once its op has cleaned up. Cancelling a finished job changes nothing.
   */
  async cancel(id: string): Promise<Job> {
    const job = await this.get(id);
    if (isTerminal(job.state)) return job;
    if (job.state === "queued") {
      await this.finish(job.id, { state: "cancelled", error: { code: "CF_CANCELLED", message: "cancelled before it started" } });
    } else {
      await this.store.tx(async (s) => await s.jobs.update(id, { cancelRequested: true }));
      this.running.get(id)?.abort.abort(new EngineError("CF_CANCELLED", 409, "cancelled on request"));
    }
    return this.get(id);
  }

  /** Resolves with the job once it is terminal, or with its current state after `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<Job> {
    const job = await this.get(id);
    if (isTerminal(job.state) || timeoutMs <= 0) return job;
    return new Promise<Job>((resolve, reject) => {
      const look = async () => {
        const now = await this.get(id);
        if (isTerminal(now.state)) settle(now);
      };
      // `ended` false: the runner says the job started or progressed, so there is nothing to read.
      const onChange = (changedId: string, ended?: boolean) => {
        if (changedId === id && ended !== false) look().catch((err: unknown) => fail(err));
      };
      const timer = setTimeout(() => void this.get(id).then(settle, fail), timeoutMs);
      // A job another host runs raises no event here: look at the inventory too.
      const poll = setInterval(() => onChange(id), SHARED_POLL_MS);
      const stop = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.events.off("change", onChange);
      };
      const settle = (j: Job) => {
        stop();
        resolve(j);
      };
      const fail = (err: unknown) => {
        stop();
        reject(err instanceof Error ? err : new Error(String(err)));
      };
      this.events.on("change", onChange);
    });
  }

  /** Subscribes to job changes; returns the unsubscribe function. */
  onChange(listener: (jobId: string) => void): () => void {
    this.events.on("change", listener);
    return () => this.events.off("change", listener);
  }

  /** The host whose jobs this runner runs. */
  get hostId(): string {
    return this.settings.hostId ?? LOCAL_HOST_ID;
  }

  /** Starts queued jobs (those left from before a restart included), and keeps looking for jobs other hosts submit for this one. */
  start(): void {
    this.pollTimer = setInterval(() => {
      this.pumpSoon();
      this.honourRemoteCancels().catch((err: unknown) => this.log.warn({ err }, "looking for cancellations asked on other hosts failed"));
    }, SHARED_POLL_MS);
    this.pollTimer.unref();
    this.leaseTimer = setInterval(() => void this.renewLeases(), JOB_LEASE_MS / 3);
    this.leaseTimer.unref();
    this.pumpSoon();
  }

  /** Renews the lease of every job this runner runs; a job whose lease another engine took is aborted here. */
  private async renewLeases(): Promise<void> {
    for (const [id, r] of this.running) {
      if (r.abort.signal.aborted) continue;
      try {
        if (await this.store.jobs.renew(id, this.owner, JOB_LEASE_MS)) continue;
        this.log.error({ jobId: id }, "this engine lost the lease of a job it runs (another engine of this host recovered it); stopping its run here");
        r.leaseLost = true;
        r.abort.abort(new EngineError("CF_CANCELLED", 409, "another engine of this host took the job over"));
      } catch (err) {
        // The inventory is out of reach: the lease runs on; the next renewal tries again.
        this.log.warn({ err, jobId: id }, "renewing a job lease failed");
      }
    }
  }

  /**
   * Starts queued jobs soon. One pump runs at a time (so the concurrency limit holds); a call
   * while one runs makes it look again when done. A failed look is logged; the poll retries.
   */
  private pumpSoon(): void {
    // Before start() (recovery still running at engine start) jobs are recorded, not run.
    if (!this.pollTimer) return;
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.pumpAgain = false;
        await this.pump().catch((err: unknown) => this.log.warn({ err }, "looking for queued jobs failed; trying again shortly"));
      } while (this.pumpAgain && !this.closed);
      this.pumping = null;
    })();
  }

  /** Stops taking work and aborts running jobs, waiting for them to clean up. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.leaseTimer) clearInterval(this.leaseTimer);
    const running = [...this.running.values()];
    for (const r of running) r.abort.abort(new EngineError("CF_CANCELLED", 409, "the engine is shutting down"));
    await Promise.allSettled(running.map((r) => r.done));
  }

  handlerFor(kind: string): JobHandler {
    const h = this.handlers.get(kind);
    if (!h) throw internal(`no handler for job kind ${kind}`);
    return h;
  }

  /** Builds the op context a job runs with (also used by recovery). */
  contextFor(jobId: string, signal: AbortSignal, recorded: JobProgress = { unit: "steps", done: 0, total: 0 }): OpContext {
    let lastWrite = 0;
    let pending: JobProgress | null = null;
    let timer: NodeJS.Timeout | null = null;
    // Progress is reported synchronously by ops and written behind them, one write at a time.
    let written: JobProgress = recorded;
    let writing: Promise<void> = Promise.resolve();
    const writeProgress = async () => {
      timer = null;
      if (!pending) return;
      const p = pending;
      pending = null;
      written = p;
      lastWrite = Date.now();
      await this.store.jobs.update(jobId, { progress: p });
      this.events.emit("change", jobId, false);
    };
    const writeSoon = () => {
      writing = writing.then(writeProgress).catch((err: unknown) => this.log.warn({ err, jobId }, "writing a job's progress failed"));
    };
    this.flushers.set(jobId, async () => {
      if (timer) clearTimeout(timer);
      await writing;
      await writeProgress();
      return written;
    });
    return {
      store: this.store,
      settings: this.settings,
      hostWork: { runJob: (kind, request) => this.runJob(kind, request, signal) },
      warm: this.warm ?? undefined,
      log: this.log.child({ jobId }),
      signal,
      // One statement, atomic on its own: no transaction (and no writer lock) needed.
      recordIntent: async (intent) => {
        await this.store.jobs.update(jobId, { intent });
      },
      progress: (p) => {
        pending = { ...(pending ?? written), ...p };
        const due = PROGRESS_WRITE_INTERVAL_MS - (Date.now() - lastWrite);
        if (due <= 0) writeSoon();
        else if (!timer) timer = setTimeout(writeSoon, due);
      },
    };
  }

  /** True when this runner's host runs `job`. */
  ownsJob(job: Job): boolean {
    return (job.hostId ?? LOCAL_HOST_ID) === this.hostId;
  }

  private async honourRemoteCancels(): Promise<void> {
    for (const [id, r] of this.running) {
      if (r.abort.signal.aborted) continue;
      if ((await this.store.jobs.get(id))?.cancelRequested) r.abort.abort(new EngineError("CF_CANCELLED", 409, "cancelled on request"));
    }
  }

  private async pump(): Promise<void> {
    if (this.closed) return;
    const queued = (await this.store.jobs.list({ states: ["queued"] }))
      .filter((j) => !this.running.has(j.id) && this.ownsJob(j))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    // Short work a caller waits on (a VM's start) must not queue behind an hour-long copy.
    for (const job of queued.filter((j) => this.handlerFor(j.kind).immediate)) await this.launch(job);
    for (const job of queued.filter((j) => !this.handlerFor(j.kind).immediate)) {
      if (this.runningQueued() >= this.concurrency) return;
      await this.launch(job);
    }
  }

  /** How many running jobs count against the concurrency limit (immediate ones do not). */
  private runningQueued(): number {
    let n = 0;
    for (const r of this.running.values()) if (!this.handlerFor(r.kind).immediate) n++;
    return n;
  }

  private async launch(job: Job): Promise<void> {
    const handler = this.handlerFor(job.kind);
    const abort = new AbortController();
    // Claimed only while still queued: it may have been cancelled from another host meanwhile.
    // Started only while still queued (it may have been cancelled, or started by another engine
    // of this host, meanwhile), under this runner's lease.
    if (!(await this.store.jobs.start(job.id, this.owner, JOB_LEASE_MS))) return;
    this.events.emit("change", job.id, false);
    const ctx = this.contextFor(job.id, abort.signal, job.progress);
    const done = (async () => {
      try {
        const { result, targetId } = await handler.run(ctx, job.request);
        await this.finish(job.id, { state: "succeeded", result, targetId: targetId ?? null });
      } catch (err) {
        const cancelled = abort.signal.aborted;
        if (!cancelled) this.log.error({ err, jobId: job.id, kind: job.kind }, "job failed");
        // A cancelled job says so whatever its op threw while unwinding (a QMP socket closed,
        // a child process killed): the abort's own reason is CF_CANCELLED.
        await this.finish(job.id, { state: cancelled ? "cancelled" : "failed", error: toJobError(cancelled ? abort.signal.reason : err) });
      } finally {
        this.running.delete(job.id);
        this.pumpSoon();
      }
    })();
    this.running.set(job.id, { abort, done, kind: job.kind, leaseLost: false });
  }

  /** Moves a job to a terminal state. */
  async finish(id: string, patch: { state: Job["state"]; result?: unknown; error?: JobError; targetId?: string | null }): Promise<void> {
    const flush = this.flushers.get(id);
    this.flushers.delete(id);
    const last = flush ? await flush() : null;
    // The engine that took the job over finishes it; this run's outcome is not the job's.
    if (this.running.get(id)?.leaseLost) return;
    let progress: JobProgress | undefined;
    if (patch.state === "succeeded") {
      const now = last ?? (await this.store.jobs.get(id))?.progress;
      if (now) progress = { ...now, done: now.total };
    }
    await this.store.jobs.finish(
      id,
      {
        state: patch.state,
        result: patch.result ?? null,
        error: patch.error ?? null,
        ...(patch.targetId !== undefined ? { targetId: patch.targetId } : {}),
        ...(progress ? { progress } : {}),
        finishedAt: nowIso(),
      },
      this.owner,
    );
    this.events.emit("change", id, true);
  }
}

/** The user-facing error of a failed job: engine errors as they are, anything else masked. */
export function toJobError(err: unknown): JobError {
  if (isEngineError(err)) {
    return err.field ? { code: err.code, message: err.message, field: err.field } : { code: err.code, message: err.message };
  }
  if (err instanceof InventoryUnavailableError) return { code: err.code, message: err.message };
  return { code: "CF_INTERNAL", message: "internal error; see the engine log for this job" };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
