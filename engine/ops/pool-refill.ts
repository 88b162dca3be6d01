import { promises as fs } from "node:fs";
import type { Logger } from "pino";
import { ensureLayout, fullCopy, isAbortError, newContentId, partPath, poolCopyPath, poolDir } from "../disk";
import { isEngineError, isNoSpaceError } from "../errors";
import { LOCAL_HOST_ID, newId, nowIso, type DiskLayer, type Pool, type PoolFillError } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { EngineSettings } from "./context";
import { copiesToDiscard, dropCopyRecords, removeFiles, templateContentId, type PoolFillStatus, type PoolFillView } from "./pool";
import { cloneSource, type CloneSource } from "./provision/provisioner";

/** Knobs of the refill loop; the defaults suit a host with a couple of disks. */
export interface PoolRefillOptions {
  /** Copies made at once over all pools (default 2). */
  concurrency?: number;
  /** How often the loop looks at the pools when nothing nudges it (default 1 s). */
  intervalMs?: number;
  /** First wait after a failed fill; doubles with each failure in a row (default 5 s). */
  retryBaseMs?: number;
  /** Longest wait between attempts (default 5 min). */
  retryMaxMs?: number;
  /** How often ready copies' files are checked for presence (default 30 s). */
  verifyEveryMs?: number;
}

const NUDGE_DELAY_MS = 20;

interface Fill extends PoolFillView {
  poolId: string;
  abort: AbortController;
  done: Promise<void>;
}

/**
 * Keeps every disk pool at its size in the background, inside the engine process: at most
 * `concurrency` copies at a time over all pools, each made under a temporary name in the
 * datastore's tmp folder and renamed into the pool folder only once complete, then recorded.
 * A failed fill (a full disk, say) is recorded on the pool and retried after a doubling
 * back-off, so a pool that cannot fill never spins. Copies whose template changed, whose file
 * vanished, or beyond a pool's size are discarded. Start it after recovery; `close` aborts the
 * copies in progress and removes their partial files.
 */
export class PoolRefill implements PoolFillStatus {
  private readonly fills = new Map<string, Fill>();
  private readonly opts: Required<PoolRefillOptions>;
  private timer: NodeJS.Timeout | null = null;
  private timerDue = 0;
  private running = false;
  private again = false;
  private closed = true;
  private lastVerify = 0;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Inventory,
    private readonly log: Logger,
    private readonly settings: EngineSettings = {},
    opts: PoolRefillOptions = {},
  ) {
    this.opts = {
      concurrency: opts.concurrency ?? 2,
      intervalMs: opts.intervalMs ?? 1000,
      retryBaseMs: opts.retryBaseMs ?? 5000,
      retryMaxMs: opts.retryMaxMs ?? 5 * 60_000,
      verifyEveryMs: opts.verifyEveryMs ?? 30_000,
    };
  }

  /**
   * The pools this host keeps filled: those on its own datastores, and on shared ones when it
   * is host local (one refill loop per shared datastore is enough).
   */
  private async poolsServedHere(): Promise<Pool[]> {
    const self = this.settings.hostId ?? LOCAL_HOST_ID;
    const datastores = new Map((await this.store.datastores.list()).map((d) => [d.id, d]));
    return (await this.store.pools.list()).filter((p) => {
      const ds = datastores.get(p.datastoreId);
      return ds !== undefined && (ds.hostId === null ? self === LOCAL_HOST_ID : ds.hostId === self);
    });
  }

  /** Starts looking at the pools (at once, then every interval); also restarts a loop stopped with `close`. */
  start(): void {
    this.closed = false;
    this.schedule(0);
  }

  /** Asks for a look at the pools soon, e.g. after a pool changed or copies were handed out; ignored once closed. */
  nudge(): void {
    // A short delay folds a burst of nudges (job progress arrives several times a second) into one pass.
    if (!this.closed) this.schedule(NUDGE_DELAY_MS);
  }

  /** Stops the loop, aborts copies in progress and waits until their partial files are gone. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const f of this.fills.values()) f.abort.abort(new Error("the engine is shutting down"));
    await Promise.allSettled([this.idle, ...[...this.fills.values()].map((f) => f.done)]);
  }

  /** The copies being made for a pool now. */
  fillsOf(poolId: string): PoolFillView[] {
    return [...this.fills.values()]
      .filter((f) => f.poolId === poolId)
      .map((f) => ({ layerId: f.layerId, fraction: f.fraction, startedAt: f.startedAt }));
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const due = Date.now() + delayMs;
    // A pass already due sooner stays; later nudges must not keep pushing it back.
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.idle = this.tick();
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.closed) return;
    this.running = true;
    this.again = false;
    try {
      await this.look();
    } catch (err) {
      this.log.error({ err }, "pool refill pass failed");
    } finally {
      this.running = false;
      this.schedule(this.again ? 0 : this.opts.intervalMs);
    }
  }

  /** One pass: tidy every pool, then start fills where pools are short, neediest first. */
  private async look(): Promise<void> {
    const verify = Date.now() - this.lastVerify >= this.opts.verifyEveryMs;
    if (verify) this.lastVerify = Date.now();
    const pools = await this.poolsServedHere();
    const live = new Set(pools.map((p) => p.id));
    for (const f of this.fills.values()) {
      if (!live.has(f.poolId)) f.abort.abort(new Error("the pool was deleted"));
    }

    const short: { pool: Pool; ready: number }[] = [];
    for (const pool of pools) {
      // Stale copies and extras are looked for on every pass (reads only; a write transaction
      // only when there is something to drop); file presence is checked only every so often,
      // and again whenever a copy is handed out.
      let discarded: string[] = [];
      if ((await copiesToDiscard(this.store, pool, { checkFiles: verify })).length > 0) {
        discarded = await this.store.tx(async (s) => {
          const gone = await copiesToDiscard(s, pool, { checkFiles: verify });
          await dropCopyRecords(s, gone);
          return gone.flatMap((x) => (x.layer ? [x.layer.path] : []));
        });
      }
      if (discarded.length > 0) {
        this.log.info({ poolId: pool.id, files: discarded }, "discarded pool copies that were stale, missing or beyond the pool's size");
        await removeFiles({ log: this.log }, discarded);
        await syncCatalog(this.store, pool.datastoreId);
      }
      const ready = (await this.store.pools.listCopies(pool.id)).length;
      const filling = this.fillsOf(pool.id);
      // A pool shrunk below what is ready plus in flight: stop the newest copies.
      let excess = ready + filling.length - pool.size;
      for (const f of [...filling].reverse()) {
        if (excess-- <= 0) break;
        this.fills.get(f.layerId)?.abort.abort(new Error("the pool no longer needs this copy"));
      }
      if (ready + filling.length < pool.size) short.push({ pool, ready });
    }

    const now = Date.now();
    const eligible = short.filter(({ pool }) => pool.retryAt === null || Date.parse(pool.retryAt) <= now);
    while (this.fills.size < this.opts.concurrency && !this.closed) {
      const next = eligible
        .map((e) => ({ ...e, have: e.ready + this.fillsOf(e.pool.id).length }))
        .filter((e) => e.have < e.pool.size)
        .sort((a, b) => a.have / a.pool.size - b.have / b.pool.size)[0];
      if (!next) break;
      this.startFill(next.pool);
    }
  }

  private startFill(pool: Pool): void {
    const layerId = newId("layer");
    const fill: Fill = {
      poolId: pool.id,
      layerId,
      fraction: 0,
      startedAt: nowIso(),
      abort: new AbortController(),
      done: Promise.resolve(),
    };
    this.fills.set(layerId, fill);
    fill.done = this.fillOne(pool, fill).finally(() => {
      this.fills.delete(layerId);
      this.nudge();
    });
  }

  private async fillOne(pool: Pool, fill: Fill): Promise<void> {
    let source: CloneSource;
    try {
      source = await cloneSource(this.store, pool.templateId, "template_id");
    } catch (err) {
      await this.recordFailure(pool, err);
      return;
    }
    const ds = await this.store.datastores.get(pool.datastoreId);
    if (!ds) return;
    const part = partPath(ds.path, fill.layerId);
    const final = poolCopyPath(ds.path, pool.templateId, fill.layerId);
    try {
      await ensureLayout(ds.path);
      const copied = await fullCopy(source.layer.path, part, {
        signal: fill.abort.signal,
        rateLimitBytesPerSec: this.settings.copyRateLimitBytesPerSec,
        onProgress: (f) => (fill.fraction = f),
      });
      fill.fraction = 1;
      if (fill.abort.signal.aborted) throw fill.abort.signal.reason;
      await fs.mkdir(poolDir(ds.path, pool.templateId), { recursive: true });
      // Visible in the pool folder only once complete; recorded only after the rename, so a
      // crash in between leaves an unowned file that the next start removes.
      await fs.rename(part, final);
      const layer: DiskLayer = {
        id: fill.layerId,
        datastoreId: ds.id,
        path: final,
        format: "qcow2",
        virtualSizeBytes: source.layer.virtualSizeBytes,
        contentId: newContentId(),
        parentContentId: null,
        backingPath: null,
        ownerKind: "pool",
        ownerId: pool.id,
        state: "ready",
        createdAt: nowIso(),
      };
      const kept = await this.store.tx(async (s) => {
        const now = await s.pools.get(pool.id);
        // The template may have changed, or the pool shrunk or gone, while this copy was made.
        if (!now || (await templateContentId(s, pool.templateId)) !== source.layer.contentId) return false;
        if ((await s.pools.listCopies(pool.id)).length >= now.size) return false;
        await s.layers.insert(layer);
        await s.pools.insertCopy({ layerId: layer.id, poolId: pool.id, templateContentId: source.layer.contentId, createdAt: layer.createdAt });
        await s.pools.update(pool.id, { failures: 0, retryAt: null, lastError: null });
        return true;
      });
      if (!kept) {
        await fs.rm(final, { force: true });
        return;
      }
      this.log.info({ poolId: pool.id, layerId: layer.id, method: copied.method }, "pool copy ready");
      await syncCatalog(this.store, ds.id);
    } catch (err) {
      await Promise.all([fs.rm(part, { force: true }), fs.rm(final, { force: true })]);
      if (fill.abort.signal.aborted || isAbortError(err)) return;
      await this.recordFailure(pool, err, ds.name);
    }
  }

  private async recordFailure(pool: Pool, err: unknown, datastoreName?: string): Promise<void> {
    const where = datastoreName ? ` on datastore ${datastoreName}` : "";
    const error: PoolFillError = isNoSpaceError(err)
      ? { code: "CF_NO_SPACE", message: `pre-copying template ${pool.templateId} into pool ${pool.id}${where}: no space left on the datastore's filesystem`, at: nowIso() }
      : isEngineError(err)
        ? { code: err.code, message: err.message, at: nowIso() }
        : { code: "CF_INTERNAL", message: `pre-copying template ${pool.templateId} into pool ${pool.id}${where}: ${(err as Error)?.message ?? String(err)}`, at: nowIso() };
    const failures = ((await this.store.pools.get(pool.id))?.failures ?? pool.failures) + 1;
    const waitMs = Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** (failures - 1));
    const retryAt = new Date(Date.now() + waitMs).toISOString();
    await this.store.tx(async (s) => {
      if (await s.pools.get(pool.id)) await s.pools.update(pool.id, { lastError: error, failures, retryAt });
    });
    this.log.warn({ poolId: pool.id, error, failures, retryAt }, "pool fill failed; backing off");
  }
}
