import { EventEmitter } from "node:events";
import type { Job } from "../model";
import type { Inventory, InventoryWrite } from "../store";
import { jobToWire, type JobWire } from "./schemas";

/** A job was recorded or changed (state, progress, result, error); `job` is its state after the change. */
export interface JobEvent {
  type: "job";
  action: "created" | "updated";
  job: JobWire;
}

/** Any other inventory record was created, changed or deleted; readers fetch it again if they show it. */
export interface RecordEvent {
  type: "record";
  action: InventoryWrite["action"];
  kind: string;
  id: string;
}

export type EngineEvent = JobEvent | RecordEvent;

/**
 * The engine's change feed: turns committed inventory writes into job and record events for
 * `GET /events`, and tells the metrics when a job ended. One event per record per commit, so
 * a transaction that touches a job three times sends it once, in its committed state.
 */
export class EngineEvents {
  private readonly emitter = new EventEmitter();

  constructor(private readonly store: Inventory) {
    this.emitter.setMaxListeners(0);
  }

  /** Subscribes to every event; returns the unsubscribe function. */
  subscribe(listener: (e: EngineEvent) => void): () => void {
    this.emitter.on("event", listener);
    return () => this.emitter.off("event", listener);
  }

  /** Subscribes to jobs reaching a terminal state (once per job); returns the unsubscribe function. */
  onJobFinished(listener: (job: Job) => void): () => void {
    this.emitter.on("finished", listener);
    return () => this.emitter.off("finished", listener);
  }

  /**
   * Publishes the writes of one committed transaction. Commits are published one after the
   * other, in the order they were reported, although a job's event reads the job back first.
   */
  publish(writes: readonly InventoryWrite[]): Promise<void> {
    const next = this.publishing.then(() => this.publishNow(writes));
    this.publishing = next.catch(() => undefined);
    return next;
  }

  private publishing: Promise<void> = Promise.resolve();

  private async publishNow(writes: readonly InventoryWrite[]): Promise<void> {
    const seen = new Map<string, InventoryWrite>();
    const finished = new Set<string>();
    for (const w of writes) {
      const key = `${w.kind}\0${w.id}`;
      const prior = seen.get(key);
      // A record created and changed in one commit is still news of its creation.
      seen.set(key, prior?.action === "created" && w.action === "updated" ? prior : w);
      if ((w.method === "jobs.update" || w.method === "jobs.finish") && (w.args[1] as { finishedAt?: unknown } | undefined)?.finishedAt) finished.add(w.id);
    }
    for (const w of seen.values()) {
      if (w.kind !== "job") {
        this.emitter.emit("event", { type: "record", action: w.action, kind: w.kind, id: w.id } satisfies RecordEvent);
        continue;
      }
      // Read back only for someone: a subscriber of every event, or the job just ended.
      if (!finished.has(w.id) && this.emitter.listenerCount("event") === 0) continue;
      const job = await this.store.jobs.get(w.id);
      if (!job) continue;
      if (finished.has(job.id)) this.emitter.emit("finished", job);
      this.emitter.emit("event", { type: "job", action: w.action === "created" ? "created" : "updated", job: jobToWire(job) } satisfies JobEvent);
    }
  }
}
