/**
 * A client for the test guest's agent on the virtio-serial port `org.clonefleet.agent.0`
 * (scripts/guest/init.sh). Requests are lines `<id> <command> [argument]`; answers are
 * `<id> ok [value]` or `<id> err <reason>`. Commands: ping, identity, set-identity,
 * read-marker, write-marker, set-ram-marker, read-ram-marker, uptime, poweroff.
 */
import { checkTimeout, settleWithin, WaitTimeoutError } from "./deadline";
import { GuestChannelError, GuestTimeoutError } from "./errors";
import { LineSocket } from "./line-socket";

/** Default deadline of one agent request. */
export const DEFAULT_AGENT_TIMEOUT_MS = 10000;

/** The agent answered `err`; `reason` is its word for why (e.g. `unknown-command`, `no-disk`). */
export class GuestAgentError extends Error {
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super(`guest agent ${command}: ${reason}`);
    this.name = "GuestAgentError";
  }
}

interface Waiter {
  command: string;
  resolve: (line: string) => void;
  reject: (err: unknown) => void;
}

/** An open connection to a guest agent; make it with `GuestAgentClient.connect`. */
export class GuestAgentClient {
  private readonly waiters = new Map<string, Waiter>();
  private seq = 0;
  private ended: Error | null = null;

  private constructor(
    private readonly socket: LineSocket,
    readonly socketPath: string,
  ) {
    socket.attach({ onLine: (line) => this.onLine(line), onClose: (err) => this.onClose(err) });
  }

  /** Connects to the agent port's socket; throws GuestChannelError. */
  static async connect(socketPath: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<GuestAgentClient> {
    try {
      return new GuestAgentClient(await LineSocket.connect(socketPath, { timeoutMs: opts.timeoutMs ?? 5000, signal: opts.signal }), socketPath);
    } catch (err) {
      throw new GuestChannelError(socketPath, `cannot connect: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Sends one request and returns the value of its `ok` answer (may be empty). Throws
   * GuestAgentError for an `err` answer, GuestTimeoutError at the deadline (default 10 s), or
   * GuestChannelError when the channel breaks.
   */
  async request(command: string, arg?: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<string> {
    if (!/^[a-z][a-z-]*$/.test(command)) throw new RangeError(`agent command ${JSON.stringify(command)} is not a command name`);
    if (arg !== undefined && /[\n\r]/.test(arg)) throw new RangeError("agent argument must be one line");
    if (this.ended) throw this.ended;
    const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS, "agent request");
    const id = `r${++this.seq}`;
    const answer = settleWithin<string>({ timeoutMs, signal: opts.signal, what: `agent ${command}` }, (resolve, reject) => {
      this.waiters.set(id, { command, resolve, reject });
      return () => this.waiters.delete(id);
    });
    answer.catch(() => undefined);
    try {
      await this.socket.write(arg === undefined ? `${id} ${command}` : `${id} ${command} ${arg}`);
    } catch (err) {
      // Settling the waiter also stops its deadline timer.
      this.waiters.get(id)?.reject(err);
      throw new GuestChannelError(this.socketPath, `cannot send ${command}: ${(err as Error).message}`, { cause: err });
    }
    let line: string;
    try {
      line = await answer;
    } catch (err) {
      if (err instanceof WaitTimeoutError) throw new GuestTimeoutError(this.socketPath, `agent ${command}`, timeoutMs);
      throw err;
    }
    const [status, ...rest] = line.split(" ");
    const value = rest.join(" ");
    if (status === "ok") return value;
    throw new GuestAgentError(command, value || status);
  }

  /** Asks the agent for `pong`; throws like `request`. */
  async ping(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const value = await this.request("ping", undefined, opts);
    if (value !== "pong") throw new GuestChannelError(this.socketPath, `ping answered ${JSON.stringify(value)}`);
  }

  /** Closes the connection; pending requests fail with GuestChannelError. */
  async close(): Promise<void> {
    this.end(new GuestChannelError(this.socketPath, "channel closed by the host"));
    await this.socket.close();
  }

  private onLine(line: string): void {
    const space = line.indexOf(" ");
    const id = space < 0 ? line : line.slice(0, space);
    const waiter = this.waiters.get(id);
    // Answers to requests that timed out earlier arrive late; nobody waits for them.
    if (!waiter) return;
    this.waiters.delete(id);
    waiter.resolve(space < 0 ? "" : line.slice(space + 1));
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
