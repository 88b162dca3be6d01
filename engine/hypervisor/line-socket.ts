import * as net from "node:net";
import { settleWithin, type WaitOptions } from "./deadline";

/** Longest line accepted from a peer; QMP answers for deep block graphs stay far below it. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** Linux's limit for a unix socket path (sun_path is 108 bytes including the NUL). */
export const MAX_UNIX_SOCKET_PATH_BYTES = 107;

/** Thrown by LineSocket when the peer sends a line longer than its limit. */
export class LineTooLongError extends Error {
  constructor(readonly limitBytes: number) {
    super(`peer sent a line longer than ${limitBytes} bytes`);
    this.name = "LineTooLongError";
  }
}

/** Handlers a LineSocket reports to: each complete line (without its terminator), and the end of the connection (with the error that ended it, if any). */
export interface LineSocketHandlers {
  onLine(line: string): void;
  onClose(err?: Error): void;
}

/**
 * A newline-delimited text stream over a unix socket with one reader: the base transport of
 * the QMP client, the guest notification channel and the guest agent client. Lines arriving
 * before handlers are attached are kept and delivered on `attach`.
 */
export class LineSocket {
  private buffer = "";
  private pending: string[] = [];
  private handlers: LineSocketHandlers | null = null;
  private closedWith: { err?: Error } | null = null;
  private readonly maxLineBytes: number;

  private constructor(
    private readonly socket: net.Socket,
    readonly path: string,
    maxLineBytes: number,
  ) {
    this.maxLineBytes = maxLineBytes;
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.onData(chunk));
    socket.on("error", (err) => this.end(err));
    socket.on("close", () => this.end());
  }

  /** Connects to the unix socket at `path`; rejects with the socket error (ENOENT, ECONNREFUSED…), a WaitTimeoutError or a WaitAbortedError. */
  static connect(path: string, opts: WaitOptions & { maxLineBytes?: number }): Promise<LineSocket> {
    if (Buffer.byteLength(path) > MAX_UNIX_SOCKET_PATH_BYTES) {
      return Promise.reject(new RangeError(`unix socket path is longer than ${MAX_UNIX_SOCKET_PATH_BYTES} bytes: ${path}`));
    }
    return settleWithin<LineSocket>({ ...opts, what: `connect to ${path}` }, (resolve, reject) => {
      const socket = net.createConnection({ path });
      let connected = false;
      const onError = (err: Error) => reject(err);
      socket.once("error", onError);
      socket.once("connect", () => {
        connected = true;
        socket.off("error", onError);
        resolve(new LineSocket(socket, path, opts.maxLineBytes ?? MAX_LINE_BYTES));
      });
      return () => {
        if (!connected) socket.destroy();
      };
    });
  }

  /** Starts delivering lines (first those that arrived already) and the close notification; may be called once. */
  attach(handlers: LineSocketHandlers): void {
    if (this.handlers) throw new Error("LineSocket handlers are already attached");
    this.handlers = handlers;
    const queued = this.pending;
    this.pending = [];
    for (const line of queued) {
      if (this.handlers !== handlers) return;
      handlers.onLine(line);
    }
    if (this.closedWith) handlers.onClose(this.closedWith.err);
  }

  /** True until the connection has ended. */
  get isOpen(): boolean {
    return this.closedWith === null;
  }

  /** Writes one line (a newline is appended); rejects when the socket is closed or the write fails. */
  write(line: string): Promise<void> {
    if (this.closedWith) return Promise.reject(new Error(`socket ${this.path} is closed`));
    return new Promise<void>((resolve, reject) => {
      this.socket.write(line + "\n", (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Closes the connection; resolves once it is closed. Safe to call more than once. */
  close(): Promise<void> {
    if (this.closedWith) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.socket.once("close", () => resolve());
      this.socket.end();
      // A peer that never reads would keep a half-closed socket open forever.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  /** Closes the connection at once, dropping unsent data. */
  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      // QEMU ends its lines with \r\n.
      const line = this.buffer.slice(0, nl).replace(/\r$/, "");
      this.buffer = this.buffer.slice(nl + 1);
      this.deliver(line);
      if (this.closedWith) return;
    }
    if (this.buffer.length > this.maxLineBytes) {
      this.buffer = "";
      this.socket.destroy(new LineTooLongError(this.maxLineBytes));
    }
  }

  private deliver(line: string): void {
    if (this.handlers) this.handlers.onLine(line);
    else this.pending.push(line);
  }

  private end(err?: Error): void {
    if (this.closedWith) return;
    this.closedWith = { err };
    this.handlers?.onClose(err);
  }
}
