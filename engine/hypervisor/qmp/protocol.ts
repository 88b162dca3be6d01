/**
 * The QMP wire layer: message shapes, parsing, and a connection with one reader and a
 * four-state run state. It knows nothing of commands or events beyond their shape; the
 * client (client.ts) adds the greeting, negotiation, execute and event dispatch on top.
 */
import { WaitAbortedError, WaitTimeoutError, type WaitOptions } from "../deadline";
import { LineSocket, LineTooLongError } from "../line-socket";
import { QmpAbortedError, QmpConnectError, QmpProtocolError, QmpTimeoutError } from "./errors";

/** `idle` before connect and after the end; `connecting` until the greeting is negotiated; `running` while usable; `disconnecting` while closing. */
export type QmpRunState = "idle" | "connecting" | "running" | "disconnecting";

/** QEMU's version triple as QMP reports it. */
export interface QmpVersion {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/** The first message QEMU sends on a new QMP connection. */
export interface QmpGreeting {
  QMP: { version: QmpVersion; capabilities: string[] };
}

/** An asynchronous event; `data` depends on the event. */
export interface QmpEventMessage<D = Record<string, unknown>> {
  event: string;
  data: D;
  timestamp: { seconds: number; microseconds: number };
}

/** A successful reply. */
export interface QmpReturn {
  return: unknown;
  id?: unknown;
}

/** An error reply; `class` is QMP's error class (GenericError, DeviceNotFound, CommandNotFound…). */
export interface QmpErrorReply {
  error: { class: string; desc: string };
  id?: unknown;
}

/** Any message QEMU sends. */
export type QmpMessage = QmpGreeting | QmpEventMessage | QmpReturn | QmpErrorReply;

/** True for a greeting. */
export function isGreeting(m: QmpMessage): m is QmpGreeting {
  return "QMP" in m;
}

/** True for an event. */
export function isEvent(m: QmpMessage): m is QmpEventMessage {
  return "event" in m;
}

/** True for an error reply. */
export function isErrorReply(m: QmpMessage): m is QmpErrorReply {
  return "error" in m;
}

/** True for a successful reply. */
export function isReturn(m: QmpMessage): m is QmpReturn {
  return "return" in m;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses one line from QEMU into a QMP message; throws QmpProtocolError for anything that is not one. */
export function parseQmpMessage(line: string): QmpMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    throw new QmpProtocolError(`not JSON: ${line.slice(0, 200)}`, { cause: err });
  }
  if (!isObject(value)) throw new QmpProtocolError(`not a JSON object: ${line.slice(0, 200)}`);
  if ("QMP" in value) {
    const qmp = value.QMP;
    if (!isObject(qmp) || !isObject(qmp.version) || !Array.isArray(qmp.capabilities)) {
      throw new QmpProtocolError(`malformed greeting: ${line.slice(0, 200)}`);
    }
    return value as unknown as QmpGreeting;
  }
  if ("event" in value) {
    if (typeof value.event !== "string") throw new QmpProtocolError(`malformed event: ${line.slice(0, 200)}`);
    // QEMU omits `data` for events without payload; normalise so listeners need no check.
    return { event: value.event, data: isObject(value.data) ? value.data : {}, timestamp: (value.timestamp as QmpEventMessage["timestamp"]) ?? { seconds: 0, microseconds: 0 } };
  }
  if ("error" in value) {
    const e = value.error;
    if (!isObject(e) || typeof e.class !== "string" || typeof e.desc !== "string") {
      throw new QmpProtocolError(`malformed error reply: ${line.slice(0, 200)}`);
    }
    return value as unknown as QmpErrorReply;
  }
  if ("return" in value) return value as unknown as QmpReturn;
  throw new QmpProtocolError(`unknown message: ${line.slice(0, 200)}`);
}

/** Receives what a QmpConnection reads, in order: every parsed message, and once the end (with its reason when abnormal). */
export interface QmpConnectionHandlers {
  onMessage(message: QmpMessage): void;
  onClose(err?: Error): void;
}

/**
 * One QMP connection: a unix socket, one reader that parses each line into a message and hands
 * it on in arrival order, a writer, and the run state. A malformed line ends the connection
 * with a QmpProtocolError (after it QEMU and we no longer agree on the stream).
 */
export class QmpConnection {
  private state: QmpRunState = "connecting";
  private handlers: QmpConnectionHandlers | null = null;

  private constructor(
    private readonly socket: LineSocket,
    readonly path: string,
  ) {}

  /** Opens the socket at `path`; throws QmpConnectError (cause: the socket error), QmpTimeoutError or QmpAbortedError. */
  static async open(path: string, opts: WaitOptions): Promise<QmpConnection> {
    try {
      return new QmpConnection(await LineSocket.connect(path, opts), path);
    } catch (err) {
      if (err instanceof WaitTimeoutError) throw new QmpTimeoutError(`connect to ${path}`, opts.timeoutMs);
      if (err instanceof WaitAbortedError) throw new QmpAbortedError(`connect to ${path}`, { cause: err.cause });
      throw new QmpConnectError(path, err instanceof Error ? err.message : String(err), { cause: err });
    }
  }

  /** The run state. */
  get runState(): QmpRunState {
    return this.state;
  }

  /** Marks the connection usable (the client calls this once negotiation succeeded). */
  markRunning(): void {
    if (this.state === "connecting") this.state = "running";
  }

  /** Starts delivering messages; may be called once. */
  attach(handlers: QmpConnectionHandlers): void {
    this.handlers = handlers;
    this.socket.attach({
      onLine: (line) => {
        if (line.trim() === "") return;
        let message: QmpMessage;
        try {
          message = parseQmpMessage(line);
        } catch (err) {
          this.fail(err as Error);
          return;
        }
        this.handlers?.onMessage(message);
      },
      onClose: (err) => {
        const previous = this.state;
        this.state = "idle";
        const reason = err instanceof LineTooLongError ? new QmpProtocolError(err.message, { cause: err }) : err;
        if (previous !== "idle") this.handlers?.onClose(reason);
      },
    });
  }

  /** Sends one message as a JSON line; rejects when the socket is closed. */
  send(message: Record<string, unknown>): Promise<void> {
    return this.socket.write(JSON.stringify(message));
  }

  /** Closes the connection; the close handler runs without an error. */
  async close(): Promise<void> {
    if (this.state === "idle") return;
    this.state = "disconnecting";
    await this.socket.close();
  }

  private fail(err: Error): void {
    if (this.state === "idle") return;
    const handlers = this.handlers;
    this.handlers = null;
    this.state = "idle";
    this.socket.destroy();
    handlers?.onClose(err);
  }
}
