/**
 * The async QMP client: greeting and capability negotiation, `execute` with a fresh id and a
 * one-slot waiter per command, and event listeners. One reader (the connection's) routes
 * every message: events to the listeners that accept them, replies to the waiter with the
 * matching id. Every wait has a deadline; when the connection ends every waiter fails with
 * QmpInterruptedError.
 */
import { randomBytes } from "node:crypto";
import { checkTimeout, remainingMs, settleWithin } from "../deadline";
import { silentLog, type HypervisorLog } from "../log";
import type { QmpArgs, QmpCommandName, QmpReturnOf } from "./commands";
import {
  QmpAbortedError,
  QmpCommandError,
  QmpConnectError,
  QmpError,
  QmpInterruptedError,
  QmpProtocolError,
  QmpStateError,
  QmpTimeoutError,
} from "./errors";
import { QmpEventListener, type QmpEvent } from "./events";
import {
  QmpConnection,
  isErrorReply,
  isEvent,
  isGreeting,
  type QmpEventMessage,
  type QmpGreeting,
  type QmpMessage,
  type QmpRunState,
} from "./protocol";

/** Default deadline of `connect` (socket, greeting and negotiation together). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** Default deadline of one command; QMP commands return quickly (long work runs as a job or a migration). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30000;

/** Options of `QmpClient.connect`. */
export interface QmpConnectOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: HypervisorLog;
}

/** Options of one command. */
export interface ExecuteOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The rest parameters of `execute`: the arguments may be left out when the command takes none or only optional ones. */
export type ExecuteRest<K extends QmpCommandName> = undefined extends QmpArgs<K>
  ? [args?: QmpArgs<K>, opts?: ExecuteOptions]
  : [args: QmpArgs<K>, opts?: ExecuteOptions];

interface Pending {
  command: string;
  args: unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** An async QMP client on one unix socket; make one with `QmpClient.connect`. */
export class QmpClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Set<QmpEventListener<QmpEventMessage>>();
  private readonly idPrefix = `cf-${randomBytes(3).toString("hex")}-`;
  private seq = 0;
  private greetingWaiter: { resolve: (g: QmpGreeting) => void; reject: (err: unknown) => void } | null = null;
  private greetingValue: QmpGreeting | null = null;
  private endReason: Error | null = null;
  private resolveClosed!: (err: Error | undefined) => void;

  /** Settles when the connection has ended, with the error that ended it (undefined after `disconnect` or a clean EOF). */
  readonly closed: Promise<Error | undefined>;

  private constructor(
    private readonly conn: QmpConnection,
    readonly socketPath: string,
    private readonly log: HypervisorLog,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    conn.attach({ onMessage: (m) => this.onMessage(m), onClose: (err) => this.onClose(err) });
  }

  /**
   * Connects to the QMP socket at `path`, reads the greeting and negotiates capabilities
   * (`qmp_capabilities`); throws QmpConnectError (its cause says why: socket error,
   * QmpTimeoutError, QmpAbortedError, QmpProtocolError, QmpCommandError).
   */
  static async connect(path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, "QmpClient.connect");
    const deadline = Date.now() + timeoutMs;
    const log = opts.log ?? silentLog;
    let conn: QmpConnection;
    try {
      conn = await QmpConnection.open(path, { timeoutMs, signal: opts.signal });
    } catch (err) {
      if (err instanceof QmpConnectError) throw err;
      throw new QmpConnectError(path, (err as Error).message, { cause: err });
    }
    const client = new QmpClient(conn, path, log);
    try {
      const greeting = await client.waitGreeting({ timeoutMs: remainingMs(deadline), signal: opts.signal });
      await client.send("qmp_capabilities", {}, { timeoutMs: remainingMs(deadline), signal: opts.signal });
      conn.markRunning();
      log.debug({ socket: path, version: greeting.QMP.version.qemu }, "qmp connected");
      return client;
    } catch (err) {
      await client.disconnect();
      throw new QmpConnectError(path, (err as Error).message, { cause: err });
    }
  }

  /** QEMU's greeting (version and offered capabilities). */
  get greeting(): QmpGreeting {
    if (!this.greetingValue) throw new QmpStateError(this.runState, "connected");
    return this.greetingValue;
  }

  /** The run state of the connection. */
  get runState(): QmpRunState {
    return this.conn.runState;
  }

  /** True while commands can be sent. */
  get isConnected(): boolean {
    return this.conn.runState === "running";
  }

  /**
   * Runs a typed command and returns its reply; throws QmpStateError (not connected),
   * QmpCommandError (QEMU refused it), QmpTimeoutError (no reply by the deadline, default
   * 30 s — the command may still run), QmpAbortedError or QmpInterruptedError (connection ended).
   */
  execute<K extends QmpCommandName>(command: K, ...rest: ExecuteRest<K>): Promise<QmpReturnOf<K>> {
    const [args, opts] = rest as [unknown, ExecuteOptions | undefined];
    return this.executeUntyped(command, args as Record<string, unknown> | undefined, opts) as Promise<QmpReturnOf<K>>;
  }

  /** Runs any command by name with loose arguments (the escape hatch for commands `QmpCommands` does not list); same errors as `execute`. */
  executeUntyped(command: string, args?: Record<string, unknown>, opts: ExecuteOptions = {}): Promise<unknown> {
    if (this.conn.runState !== "running") {
      return Promise.reject(new QmpStateError(this.conn.runState, "running", `QMP ${command}: client is ${this.conn.runState}`));
    }
    return this.send(command, args, opts);
  }

  /** Runs a human monitor (HMP) command line and returns its text, in which HMP reports its own errors (they are not QmpCommandErrors); otherwise the errors of `execute`. */
  hmp(commandLine: string, opts?: ExecuteOptions): Promise<string> {
    return this.execute("human-monitor-command", { "command-line": commandLine }, opts);
  }

  /**
   * Opens an event listener for `names` ("*" for all) and an optional filter — open it before
   * the command that triggers the event and `close()` it in a `finally`; throws QmpStateError
   * when the connection has ended.
   */
  listen<N extends string>(names: readonly N[] | N, filter?: (event: QmpEvent<N>) => boolean): QmpEventListener<QmpEvent<N>> {
    if (this.endReason || this.conn.runState === "idle") {
      throw new QmpStateError(this.conn.runState, "connected", "QMP listen: the connection has ended");
    }
    const list = typeof names === "string" ? (names === "*" ? "*" : [names]) : names;
    const listener = new QmpEventListener<QmpEvent<N>>(list, filter, (l) => this.listeners.delete(l as unknown as QmpEventListener<QmpEventMessage>));
    this.listeners.add(listener as unknown as QmpEventListener<QmpEventMessage>);
    return listener;
  }

  /** Closes the connection (QEMU keeps running); pending commands and event waits fail with QmpInterruptedError. Safe to call more than once. */
  async disconnect(): Promise<void> {
    if (!this.endReason) this.end(new QmpInterruptedError(`QMP connection to ${this.socketPath} was closed by the client`));
    await this.conn.close();
  }

  private waitGreeting(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<QmpGreeting> {
    if (this.greetingValue) return Promise.resolve(this.greetingValue);
    if (this.endReason) return Promise.reject(this.endReason);
    return settleWithin<QmpGreeting>(
      {
        ...opts,
        what: "greeting",
        onTimeout: () => new QmpTimeoutError("greeting", opts.timeoutMs),
        onAbort: (reason) => new QmpAbortedError("greeting", { cause: reason }),
      },
      (resolve, reject) => {
        this.greetingWaiter = { resolve, reject };
        return () => {
          this.greetingWaiter = null;
        };
      },
    );
  }

  private send(command: string, args: unknown, opts: ExecuteOptions): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    if (this.endReason) return Promise.reject(this.endReason);
    const id = `${this.idPrefix}${++this.seq}`;
    const message: Record<string, unknown> = { execute: command, id };
    if (args !== undefined && args !== null) message.arguments = args;
    return settleWithin<unknown>(
      {
        timeoutMs,
        signal: opts.signal,
        what: command,
        onTimeout: () => new QmpTimeoutError(command, timeoutMs),
        onAbort: (reason) => new QmpAbortedError(command, { cause: reason }),
      },
      (resolve, reject) => {
        this.pending.set(id, { command, args, resolve, reject });
        this.conn.send(message).catch((err: unknown) => {
          reject(new QmpInterruptedError(`QMP ${command}: could not send: ${(err as Error).message}`, { cause: err }));
        });
        // A reply that comes after the deadline finds no waiter and is dropped (logged).
        return () => this.pending.delete(id);
      },
    );
  }

  private onMessage(message: QmpMessage): void {
    if (isGreeting(message)) {
      if (this.greetingValue) {
        this.log.warn({ socket: this.socketPath }, "qmp: unexpected second greeting ignored");
        return;
      }
      this.greetingValue = message;
      this.greetingWaiter?.resolve(message);
      return;
    }
    if (!this.greetingValue) {
      // QEMU can hand a new connection events queued while the previous client was still
      // attached (it accepts the socket before it switches the monitor back to negotiation
      // mode), so an event ahead of the greeting is stale noise, not a protocol breach.
      if (isEvent(message)) {
        this.log.debug({ socket: this.socketPath, event: message.event }, "qmp: event before the greeting dropped");
        return;
      }
      this.fail(new QmpProtocolError(`expected a greeting first, got ${JSON.stringify(message).slice(0, 200)}`));
      return;
    }
    if (isEvent(message)) {
      for (const listener of this.listeners) {
        if (listener.accepts(message)) listener.push(message);
      }
      return;
    }
    const id = typeof message.id === "string" ? message.id : undefined;
    const waiter = id === undefined ? undefined : this.pending.get(id);
    if (!waiter) {
      this.log.debug({ socket: this.socketPath, id: message.id }, "qmp: reply for no waiting command dropped");
      return;
    }
    this.pending.delete(id!);
    if (isErrorReply(message)) {
      waiter.reject(new QmpCommandError(waiter.command, message.error.class, message.error.desc, waiter.args));
    } else {
      waiter.resolve(message.return);
    }
  }

  private fail(err: QmpError): void {
    this.end(err);
    void this.conn.close();
  }

  private onClose(err?: Error): void {
    if (this.endReason) {
      this.resolveClosed(err);
      return;
    }
    const reason =
      err instanceof QmpProtocolError
        ? err
        : new QmpInterruptedError(`QMP connection to ${this.socketPath} ended${err ? `: ${err.message}` : ""}`, { cause: err });
    this.end(reason);
    this.resolveClosed(err);
  }

  private end(reason: Error): void {
    if (this.endReason) return;
    this.endReason = reason;
    const interrupted = reason instanceof QmpInterruptedError ? reason : new QmpInterruptedError(reason.message, { cause: reason });
    const waiters = [...this.pending.values()];
    this.pending.clear();
    for (const w of waiters) w.reject(interrupted);
    this.greetingWaiter?.reject(reason);
    for (const listener of this.listeners) listener.end(interrupted);
    this.log.debug({ socket: this.socketPath, reason: reason.message }, "qmp connection ended");
  }
}
