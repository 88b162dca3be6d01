/**
 * Pre-started instant-clone children, the template-cache idea of Kata Containers' VM factory
 * applied to S3: for every parent with a warm count, this host keeps that many child QEMU
 * processes started in the background (own overlay, own identity in fw_cfg, the parent's RAM
 * mapped privately) with the parent's device state already loaded, each waiting paused. A
 * clone request takes them and only resumes them (`cont`) and records them, so the QEMU start
 * and the state load are both paid before the request.
 *
 * Clock: a paused QEMU's virtual clock stands still, so a child resumes at the instant of the
 * capture however long it waited (its uptime is the parent's at the capture, as with any
 * snapshot restore); the RTC follows the host's clock (QEMU's default `-rtc clock=host`), so
 * it reads the right wall time at once, for guests that resync from it or from NTP.
 *
 * They are not VMs until taken: no record, not listed, not counted as the parent's children.
 * An engine restart drops them (the start-up reconcile kills QEMU processes in state folders
 * no VM owns and removes the folders) and this loop starts new ones.
 */
import { promises as fs } from "node:fs";
import type { Logger } from "pino";
import type { QemuProcess } from "../hypervisor";
import { engineDir, newContentId, partPath, removeOwnedTree, vmDir, vmDiskPath } from "../disk";
import { newId, type InstantCloneParent } from "../model";
import type { Inventory } from "../store";
import type { EngineSettings } from "./context";
import { vmStateDirIn } from "./vm-power";
import { checkRunnableHere, childOverlay, parentChain, spawnChild } from "./instant-clone";
import type { WarmChild, WarmChildSource } from "./instant-clone-child";
import { getParentView, pendingCloneJobs } from "./parent-lifecycle";

/** Knobs of the loop. */
export interface WarmChildrenOptions {
  /** How often the loop looks at the parents when nothing nudges it (default 2 s). */
  intervalMs?: number;
  /** First wait after a failed start for a parent; doubles with each failure in a row (default 5 s). */
  retryBaseMs?: number;
  /** Longest wait between attempts (default 5 min). */
  retryMaxMs?: number;
}

const NUDGE_DELAY_MS = 50;

/** How soon the loop looks again at a parent it left alone because a clone request of it was running. */
const BUSY_RECHECK_MS = 200;

interface Backoff {
  until: number;
  delayMs: number;
  message: string;
}

/**
 * Keeps every ready parent's warm count of pre-started children on this host, one start at a
 * time (a request in progress gets the CPU first), and drops those of parents deleted, drifted
 * or lowered. A parent whose children cannot start here (another QEMU version, files
 * unreachable) is retried after a doubling back-off and its error is reported. Start it after
 * recovery; `close` kills every pre-started child and removes its files.
 */
export class WarmChildren implements WarmChildSource {
  private readonly ready = new Map<string, WarmChild[]>();
  private readonly backoff = new Map<string, Backoff>();
  private readonly opts: Required<WarmChildrenOptions>;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  /** Set by a pass that left a parent short because one of its clone requests was running. */
  private waitedForRequest = false;
  private closed = true;
  private idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Inventory,
    private readonly log: Logger,
    private readonly settings: EngineSettings,
    opts: WarmChildrenOptions = {},
  ) {
    this.opts = { intervalMs: opts.intervalMs ?? 2000, retryBaseMs: opts.retryBaseMs ?? 5000, retryMaxMs: opts.retryMaxMs ?? 5 * 60_000 };
  }

  /** Starts looking at the parents (at once, then every interval). */
  start(): void {
    this.closed = false;
    this.schedule(0);
  }

  nudge(): void {
    this.schedule(NUDGE_DELAY_MS);
  }

  take(parentId: string, n: number): WarmChild[] {
    const list = this.ready.get(parentId);
    if (!list || n <= 0) return [];
    return list.splice(0, n);
  }

  readyCount(parentId: string): number {
    return this.ready.get(parentId)?.length ?? 0;
  }

  async release(parentId: string): Promise<void> {
    const list = this.ready.get(parentId) ?? [];
    this.ready.delete(parentId);
    await Promise.all(list.map((c) => this.discard(c)));
  }

  /** Why this host could not pre-start children of a parent lately, or null. */
  lastError(parentId: string): string | null {
    return this.backoff.get(parentId)?.message ?? null;
  }

  /** Stops the loop, waits for a start in progress, then kills every pre-started child and removes its files. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.idle;
    const all = [...this.ready.values()].flat();
    this.ready.clear();
    await Promise.all(all.map((c) => this.discard(c)));
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
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
      this.log.error({ err }, "warm children pass failed");
    } finally {
      this.running = false;
      this.schedule(this.again ? 0 : this.waitedForRequest ? BUSY_RECHECK_MS : this.opts.intervalMs);
    }
  }

  /** One pass: drop what is no longer wanted, then start one child for each parent that is short. */
  private async look(): Promise<void> {
    const wanted = new Map<string, { parent: InstantCloneParent; count: number }>();
    for (const p of await this.store.parents.list()) {
      if (p.warmCount <= 0) continue;
      if ((await getParentView(this.store, p.id)).state !== "ready") continue;
      wanted.set(p.id, { parent: p, count: p.warmCount });
    }
    for (const [parentId, list] of this.ready) {
      const keep = wanted.get(parentId)?.count ?? 0;
      if (list.length <= keep) continue;
      const extra = list.splice(keep);
      if (list.length === 0) this.ready.delete(parentId);
      await Promise.all(extra.map((c) => this.discard(c)));
    }
    for (const parentId of this.backoff.keys()) if (!wanted.has(parentId)) this.backoff.delete(parentId);
    let short = false;
    this.waitedForRequest = false;
    for (const { parent, count } of wanted.values()) {
      if (this.closed) return;
      if (this.readyCount(parent.id) >= count) continue;
      // A burst of clones gets the CPU: starting replacements during it would slow it down.
      if ((await pendingCloneJobs(this.store, parent.id)).length > 0) {
        this.waitedForRequest = true;
        continue;
      }
      const wait = this.backoff.get(parent.id);
      if (wait && wait.until > Date.now()) continue;
      try {
        const child = await this.startOne(parent);
        if (this.closed || !(await this.store.parents.get(parent.id))) {
          await this.discard(child);
          continue;
        }
        const list = this.ready.get(parent.id) ?? [];
        list.push(child);
        this.ready.set(parent.id, list);
        this.backoff.delete(parent.id);
        // A child whose QEMU dies while it waits leaves the list.
        void child.proc.qmp.closed.then(() => {
          const at = this.ready.get(parent.id)?.indexOf(child) ?? -1;
          if (at >= 0) {
            this.ready.get(parent.id)!.splice(at, 1);
            this.log.warn({ parentId: parent.id, vmId: child.plan.id }, "a pre-started child's QEMU ended while it waited");
            void this.discard(child);
            this.nudge();
          }
        });
        if (this.readyCount(parent.id) < count) short = true;
      } catch (err) {
        const delayMs = Math.min(this.opts.retryMaxMs, wait ? wait.delayMs * 2 : this.opts.retryBaseMs);
        const message = (err as Error).message;
        this.backoff.set(parent.id, { until: Date.now() + delayMs, delayMs, message });
        this.log.warn({ parentId: parent.id, err: message, retryInMs: delayMs }, "could not pre-start a child of an instant-clone parent");
      }
    }
    if (short) this.again = true;
  }

  private async startOne(parent: InstantCloneParent): Promise<WarmChild> {
    if (!this.settings.vmStateRoot) throw new Error("the engine has no VM state root configured");
    await checkRunnableHere(parent);
    const ds = await this.store.datastores.get(parent.datastoreId);
    if (!ds) throw new Error(`instant-clone parent ${parent.name}'s datastore is gone`);
    const { top, chain } = await parentChain(this.store, parent);
    const id = newId("vm");
    const plan = { id, name: `warm-${id}`, layerId: newId("layer"), home: vmDir(ds.path, id), disk: vmDiskPath(ds.path, id), stateDir: vmStateDirIn(this.settings.vmStateRoot, id) };
    const fallback = partPath(ds.path, `warm-${newContentId().slice(0, 16)}`);
    let proc: QemuProcess | null = null;
    try {
      const overlay = await childOverlay(parent, top, fallback);
      proc = await spawnChild(parent, chain, plan, overlay);
      const loaded = await proc.loadStartState({ ignoreShared: true });
      if (loaded.status !== "paused") throw new Error(`a pre-started child of ${parent.name} is ${loaded.status} after loading its state, not paused`);
      this.log.debug({ parentId: parent.id, vmId: id, pid: proc.pid, loadMs: loaded.durationMs }, "pre-started an instant-clone child");
      return { plan, proc, engineRoot: engineDir(ds.path) };
    } catch (err) {
      await proc?.kill().catch(() => undefined);
      await removeChildFiles(this.settings, engineDir(ds.path), plan);
      throw err;
    } finally {
      await fs.rm(fallback, { force: true });
    }
  }

  private async discard(child: WarmChild): Promise<void> {
    await child.proc.kill().catch((err: unknown) => this.log.warn({ err, vmId: child.plan.id }, "could not kill a pre-started child"));
    // The datastore's record may be gone by now (deleted with the parent): the folder the
    // child was started in is still the engine's own.
    await removeChildFiles(this.settings, child.engineRoot, child.plan).catch((err: unknown) =>
      this.log.warn({ err, vmId: child.plan.id }, "could not remove a pre-started child's files"),
    );
  }
}

async function removeChildFiles(settings: EngineSettings, engineRoot: string, plan: { stateDir: string; home: string }): Promise<void> {
  if (settings.vmStateRoot) await removeOwnedTree(settings.vmStateRoot, plan.stateDir);
  await removeOwnedTree(engineRoot, plan.home);
}
