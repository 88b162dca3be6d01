/**
 * The host side of the guest notification channel (S6): JSON lines over the unix socket
 * chardev of the virtio-serial port `org.clonefleet.notify.0`. The host announces an event
 * (a migration) with a deadline, the guest application prepares and acknowledges, and after
 * the event the host sends a completion. The wire format is in docs/guest-notify-protocol.md.
 */
import { randomBytes } from "node:crypto";
import { checkTimeout, settleWithin, WaitTimeoutError } from "./deadline";
import { GuestChannelError } from "./errors";
import { LineSocket } from "./line-socket";
import { silentLog, type HypervisorLog } from "./log";

/** Version of the notification protocol this host speaks. */
export const NOTIFY_PROTOCOL_VERSION = 1;

/** Longest deadline a notice may carry (one hour). */
export const MAX_NOTICE_DEADLINE_MS = 3600 * 1000;

/** A notice to the guest: what is about to happen and how long the guest has to acknowledge. */
export interface GuestNotice {
  /** What is about to happen, e.g. "migration". */
  kind: string;
  deadlineMs: number;
  /** Extra facts for the guest (e.g. `{ target_host: "b" }`); sent as `detail`. */
  detail?: Record<string, unknown>;
}

/** How a notice ended: acknowledged, declined by the guest, or no answer by its deadline. */
export type NoticeOutcome =
  | { id: string; outcome: "acked"; waitedMs: number }
  | { id: string; outcome: "declined"; reason: string; waitedMs: number }
  | { id: string; outcome: "timeout"; waitedMs: number };

/** How the announced event ended, as told to the guest in the completion. */
export type CompletionOutcome = "succeeded" | "failed" | "aborted";

/** The JSON object of a notice line (exported for tests and for the protocol document's examples). */
export function noticeMessage(id: string, notice: GuestNotice, sentAt: Date): Record<string, unknown> {
  // `id` comes first: a minimal guest (a shell script) may rely on the member order documented
  // in docs/guest-notify-protocol.md; `detail` comes last for the same reason.
  const message: Record<string, unknown> = {
    id,
    v: NOTIFY_PROTOCOL_VERSION,
    kind: notice.kind,
    phase: "prepare",
    deadline_ms: notice.deadlineMs,
    sent_at: sentAt.toISOString(),
  };
  if (notice.detail) message.detail = notice.detail;
  return message;
}

/** The JSON object of a completion line. */
export function completionMessage(id: string, ref: string, kind: string, outcome: CompletionOutcome, sentAt: Date, detail?: Record<string, unknown>): Record<string, unknown> {
  const message: Record<string, unknown> = { id, v: NOTIFY_PROTOCOL_VERSION, kind, phase: "complete", ref, outcome, sent_at: sentAt.toISOString() };
  if (detail) message.detail = detail;
  return message;
}

interface Waiter {
  resolve: (reply: { ack: boolean; reason: string }) => void;
  reject: (err: unknown) => void;
}

/** An open notification channel to one VM's guest; make it with `GuestNotifyChannel.connect`. */
export class GuestNotifyChannel {
  private readonly waiters = new Map<string, Waiter>();
  private ended: Error | null = null;

  private constructor(
    private readonly socket: LineSocket,
    readonly socketPath: string,
    private readonly log: HypervisorLog,
  ) {
    socket.attach({ onLine: (line) => this.onLine(line), onClose: (err) => this.onClose(err) });
  }

  /** Connects to the notify port's socket (in the VM's state folder); throws GuestChannelError. */
  static async connect(socketPath: string, opts: { timeoutMs?: number; signal?: AbortSignal; log?: HypervisorLog } = {}): Promise<GuestNotifyChannel> {
    try {
      const socket = await LineSocket.connect(socketPath, { timeoutMs: opts.timeoutMs ?? 5000, signal: opts.signal });
      return new GuestNotifyChannel(socket, socketPath, opts.log ?? silentLog);
    } catch (err) {
      throw new GuestChannelError(socketPath, `cannot connect: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Sends a notice and waits for the guest's answer until `notice.deadlineMs` passes. Never
   * throws for a silent guest (the outcome is `timeout`; the caller's policy decides); throws
   * GuestChannelError when the channel breaks, a RangeError for a bad deadline, or an abort error.
   */
  async notify(notice: GuestNotice, opts: { signal?: AbortSignal } = {}): Promise<NoticeOutcome> {
    checkTimeout(notice.deadlineMs, "notify");
    if (notice.deadlineMs > MAX_NOTICE_DEADLINE_MS) throw new RangeError(`notify: deadlineMs must be at most ${MAX_NOTICE_DEADLINE_MS}`);
    if (!/^[a-z][a-z0-9._-]{0,63}$/.test(notice.kind)) throw new RangeError(`notify: kind ${JSON.stringify(notice.kind)} must be lower-case letters, digits, . _ or -`);
    if (this.ended) throw this.ended;
    const id = `n-${randomBytes(8).toString("hex")}`;
    const started = Date.now();
    const answer = settleWithin<{ ack: boolean; reason: string }>(
      { timeoutMs: notice.deadlineMs, signal: opts.signal, what: `notice ${id}` },
      (resolve, reject) => {
        this.waiters.set(id, { resolve, reject });
        return () => this.waiters.delete(id);
      },
    );
    // Handled below; without this a deadline shorter than the write would be an unhandled rejection.
    answer.catch(() => undefined);
    try {
      // An empty line first: it ends any line a dropped earlier connection cut short (QEMU may
      // drop what the guest had not read yet when a host hangs up), so the notice is read whole.
      await this.socket.write(`\n${JSON.stringify(noticeMessage(id, notice, new Date()))}`);
    } catch (err) {
      // Settling the waiter also stops its deadline timer.
      this.waiters.get(id)?.reject(err);
      throw new GuestChannelError(this.socketPath, `cannot send notice: ${(err as Error).message}`, { cause: err });
    }
    this.log.debug({ socket: this.socketPath, id, kind: notice.kind, deadlineMs: notice.deadlineMs }, "guest notice sent");
    try {
      const reply = await answer;
      const waitedMs = Date.now() - started;
      return reply.ack ? { id, outcome: "acked", waitedMs } : { id, outcome: "declined", reason: reply.reason, waitedMs };
    } catch (err) {
      if (err instanceof WaitTimeoutError) return { id, outcome: "timeout", waitedMs: Date.now() - started };
      throw err;
    }
  }

  /** Tells the guest how the announced event ended (`ref` is the notice's id); no answer is awaited. Returns the completion's id; throws GuestChannelError. */
  async complete(ref: string, outcome: CompletionOutcome, opts: { kind?: string; detail?: Record<string, unknown> } = {}): Promise<string> {
    if (this.ended) throw this.ended;
    const id = `c-${randomBytes(8).toString("hex")}`;
    try {
      await this.socket.write(`\n${JSON.stringify(completionMessage(id, ref, opts.kind ?? "migration", outcome, new Date(), opts.detail))}`);
    } catch (err) {
      throw new GuestChannelError(this.socketPath, `cannot send completion: ${(err as Error).message}`, { cause: err });
    }
    return id;
  }

  /**
   * Closes the channel; a pending `notify` fails with GuestChannelError. `lingerMs` keeps the
   * connection open that long first: QEMU drops what the guest has not read yet when the host
   * hangs up, so give a line just sent (a completion) time to be read.
   */
  async close(opts: { lingerMs?: number } = {}): Promise<void> {
    if (opts.lingerMs && !this.ended) await new Promise((r) => setTimeout(r, opts.lingerMs));
    this.end(new GuestChannelError(this.socketPath, "channel closed by the host"));
    await this.socket.close();
  }

  private onLine(line: string): void {
    let reply: unknown;
    try {
      reply = JSON.parse(line);
    } catch {
      this.log.warn({ socket: this.socketPath, line: line.slice(0, 200) }, "guest notify: not JSON, ignored");
      return;
    }
    if (typeof reply !== "object" || reply === null || typeof (reply as { id?: unknown }).id !== "string") {
      this.log.warn({ socket: this.socketPath, line: line.slice(0, 200) }, "guest notify: reply without id, ignored");
      return;
    }
    const r = reply as { id: string; ack?: unknown; reason?: unknown };
    const waiter = this.waiters.get(r.id);
    if (!waiter) {
      // A late ack (after its deadline) or an ack of a completion: nothing waits for it.
      this.log.debug({ socket: this.socketPath, id: r.id }, "guest notify: reply for no waiting notice");
      return;
    }
    this.waiters.delete(r.id);
    waiter.resolve({ ack: r.ack === true, reason: typeof r.reason === "string" ? r.reason : "" });
  }

  private onClose(err?: Error): void {
    this.end(new GuestChannelError(this.socketPath, `channel closed${err ? `: ${err.message}` : ""}`, { cause: err }));
  }

  private end(err: GuestChannelError): void {
    if (this.ended) return;
    this.ended = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
  }
}
