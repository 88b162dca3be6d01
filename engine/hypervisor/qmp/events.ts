/**
 * QMP events and the listeners that receive them. Each listener is an independent FIFO with
 * its own filter; open it before the command that triggers the event, and close it in a
 * `finally`.
 */
import { settleWithin } from "../deadline";
import { QmpAbortedError, QmpInterruptedError, QmpTimeoutError } from "./errors";
import type { QmpEventMessage } from "./protocol";
import type { BlockJobType, JobStatus, MigrationStatus } from "./commands";

/** Payloads of the events clonefleet waits for; any other event still arrives, with loose data. */
export interface QmpEvents {
  STOP: Record<string, never>;
  RESUME: Record<string, never>;
  RESET: { guest: boolean; reason: string };
  POWERDOWN: Record<string, never>;
  SHUTDOWN: { guest: boolean; reason: string };
  SUSPEND: Record<string, never>;
  WAKEUP: Record<string, never>;
  GUEST_PANICKED: { action: string };
  MIGRATION: { status: MigrationStatus };
  MIGRATION_PASS: { pass: number };
  BLOCK_JOB_READY: { type: BlockJobType; device: string; len: number; offset: number; speed: number };
  BLOCK_JOB_COMPLETED: { type: BlockJobType; device: string; len: number; offset: number; speed: number; error?: string };
  BLOCK_JOB_CANCELLED: { type: BlockJobType; device: string; len: number; offset: number; speed: number };
  BLOCK_JOB_ERROR: { device: string; operation: "read" | "write"; action: "ignore" | "report" | "stop" };
  BLOCK_JOB_PENDING: { type: BlockJobType; id: string };
  JOB_STATUS_CHANGE: { id: string; status: JobStatus };
  BLOCK_IO_ERROR: { device: string; "node-name"?: string; operation: string; action: string; reason: string };
  VSERPORT_CHANGE: { id: string; open: boolean };
  DEVICE_DELETED: { device?: string; path: string };
  RTC_CHANGE: { offset: number };
}

/** Names of the typed events. */
export type QmpEventName = keyof QmpEvents;

/** An event with its typed payload. */
export type QmpEvent<N extends string = string> = N extends QmpEventName
  ? QmpEventMessage<QmpEvents[N]> & { event: N }
  : QmpEventMessage;

/** Options of `QmpEventListener.next`. */
export interface NextEventOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * A FIFO of the events matching `names` (all events when `names` is "*") and the optional
 * `filter`. Events queue from the moment the listener is open; `next` takes the oldest or
 * waits for one with a deadline. Once the connection ends, queued events can still be taken
 * and further waits fail with QmpInterruptedError.
 */
export class QmpEventListener<E extends QmpEventMessage = QmpEventMessage> {
  private readonly queue: E[] = [];
  private waiter: { resolve: (e: E) => void; reject: (err: unknown) => void } | null = null;
  private ended: Error | null = null;
  private closed = false;
  private readonly nameSet: ReadonlySet<string> | null;

  constructor(
    names: "*" | readonly string[],
    private readonly filter?: (event: E) => boolean,
    private readonly onClose?: (listener: QmpEventListener<E>) => void,
  ) {
    this.nameSet = names === "*" ? null : new Set(names);
  }

  /** The event names this listener takes, or "*" for all. */
  get names(): "*" | string[] {
    return this.nameSet ? [...this.nameSet] : "*";
  }

  /** True when this listener takes `event` (name and filter); a throwing filter counts as no. */
  accepts(event: QmpEventMessage): boolean {
    if (this.closed) return false;
    if (this.nameSet && !this.nameSet.has(event.event)) return false;
    if (!this.filter) return true;
    try {
      return this.filter(event as E);
    } catch {
      return false;
    }
  }

  /** Hands an event to the listener (called by the client's reader for accepted events). */
  push(event: QmpEventMessage): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve(event as E);
    } else {
      this.queue.push(event as E);
    }
  }

  /** Marks the connection as ended: a pending and every later wait on an empty queue fails with `err`. */
  end(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(err);
    }
  }

  /** Number of events queued and not yet taken. */
  get size(): number {
    return this.queue.length;
  }

  /** Takes every queued event without waiting. */
  drain(): E[] {
    return this.queue.splice(0, this.queue.length);
  }

  /** The oldest queued event, or the next one to arrive; throws QmpTimeoutError, QmpAbortedError, QmpInterruptedError (connection ended) or an Error when closed or when another `next` is already waiting. */
  next(opts: NextEventOptions): Promise<E> {
    const first = this.queue.shift();
    if (first) return Promise.resolve(first);
    if (this.closed) return Promise.reject(new Error("QMP event listener is closed"));
    if (this.ended) return Promise.reject(this.ended);
    if (this.waiter) return Promise.reject(new Error("QMP event listener already has a pending next()"));
    const what = `event ${this.nameSet ? [...this.nameSet].join("|") : "*"}`;
    return settleWithin<E>(
      {
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
        what,
        onTimeout: () => new QmpTimeoutError(what, opts.timeoutMs),
        onAbort: (reason) => new QmpAbortedError(what, { cause: reason }),
      },
      (resolve, reject) => {
        this.waiter = { resolve, reject };
        return () => {
          this.waiter = null;
        };
      },
    );
  }

  /** Waits for the first event for which `predicate` holds, discarding the others; same errors as `next`, with one deadline for the whole wait. */
  async waitFor(predicate: (event: E) => boolean, opts: NextEventOptions): Promise<E> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      const left = Math.max(0, deadline - Date.now());
      let event: E;
      try {
        event = await this.next({ timeoutMs: left, signal: opts.signal });
      } catch (err) {
        // Report the whole wait's budget, not the remainder of the last step.
        if (err instanceof QmpTimeoutError) throw new QmpTimeoutError(err.what, opts.timeoutMs);
        throw err;
      }
      if (predicate(event)) return event;
    }
  }

  /** Stops receiving events and fails a pending `next`; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.reject(new QmpInterruptedError("QMP event listener closed while waiting"));
    }
    this.onClose?.(this);
  }
}
