/**
 * The QMP client's errors. They all descend from QmpError so that a caller can catch the
 * whole family; ops wrap them into EngineErrors naming the step that failed.
 */

/** Root of every error the QMP client throws. */
export class QmpError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "QmpError";
  }
}

/** The socket could not be opened, or QEMU's greeting or capability negotiation failed; `cause` holds the underlying error. */
export class QmpConnectError extends QmpError {
  constructor(
    readonly socketPath: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`QMP connect to ${socketPath}: ${message}`, options);
    this.name = "QmpConnectError";
  }
}

/** A method was called in a run state that does not allow it (e.g. `execute` before `connect` or after `disconnect`). */
export class QmpStateError extends QmpError {
  constructor(
    readonly state: string,
    readonly required: string,
    message?: string,
  ) {
    super(message ?? `QMP client is ${state}; this needs it ${required}`);
    this.name = "QmpStateError";
  }
}

/** QEMU answered a command with an error; keeps the QMP error class, the command and its arguments. */
export class QmpCommandError extends QmpError {
  constructor(
    readonly command: string,
    readonly qmpClass: string,
    readonly desc: string,
    readonly args?: unknown,
  ) {
    super(`QMP ${command}: ${qmpClass}: ${desc}`);
    this.name = "QmpCommandError";
  }
}

/** The connection ended (QEMU exited, the socket closed, or `disconnect` was called) while a command or event wait was outstanding. */
export class QmpInterruptedError extends QmpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "QmpInterruptedError";
  }
}

/** QEMU sent something that is not valid QMP (bad JSON, an over-long line, a reply of the wrong shape). */
export class QmpProtocolError extends QmpError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "QmpProtocolError";
  }
}

/** A wait passed its deadline; `what` names the command or event awaited. A timed-out command may still run in QEMU. */
export class QmpTimeoutError extends QmpError {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`QMP ${what}: no answer within ${timeoutMs} ms`);
    this.name = "QmpTimeoutError";
  }
}

/** The wait was cancelled through its AbortSignal; the signal's reason is the `cause`. */
export class QmpAbortedError extends QmpError {
  constructor(what: string, options?: { cause?: unknown }) {
    super(`QMP ${what}: aborted`, options);
    this.name = "QmpAbortedError";
  }
}
