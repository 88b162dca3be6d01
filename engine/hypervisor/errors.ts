/**
 * Errors of the hypervisor layer outside QMP (those are in qmp/errors.ts). Each names the step
 * that failed and keeps what a caller needs to report it; ops wrap them into EngineErrors.
 */

/** Root of the hypervisor layer's own errors. */
export class HypervisorError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HypervisorError";
  }
}

/** A VM spec cannot be turned into a QEMU command line; `field` names the spec field (camelCase, with indexes). */
export class VmSpecError extends HypervisorError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = "VmSpecError";
  }
}

/** QEMU did not come up: it exited, or its QMP socket did not answer in time; keeps argv, exit status and the tail of its log. */
export class QemuStartError extends HypervisorError {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly logTail: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "QemuStartError";
  }
}

/** A state folder already belongs to a live QEMU process. */
export class VmAlreadyRunningError extends HypervisorError {
  constructor(
    readonly stateDir: string,
    readonly pid: number,
  ) {
    super(`a QEMU process (pid ${pid}) is already running for ${stateDir}`);
    this.name = "VmAlreadyRunningError";
  }
}

/** The QEMU process of a state folder is gone (exited, killed, or never started); `pid` is the last one recorded, if any. */
export class VmNotRunningError extends HypervisorError {
  constructor(
    readonly stateDir: string,
    readonly pid: number | null,
    detail?: string,
  ) {
    super(`no running QEMU process for ${stateDir}${pid ? ` (last pid ${pid})` : ""}${detail ? `: ${detail}` : ""}`);
    this.name = "VmNotRunningError";
  }
}

/** A migration (state save, state load or live migration) ended in `failed` or `cancelled`, or did not end by its deadline. */
export class MigrationError extends HypervisorError {
  constructor(
    readonly step: "save" | "load" | "migrate",
    readonly status: string,
    readonly desc: string,
    options?: { cause?: unknown },
  ) {
    super(`${step}: migration ${status}${desc ? `: ${desc}` : ""}`, options);
    this.name = "MigrationError";
  }
}

/** A guest channel (notify or agent) failed: it could not connect, the guest answered garbage, or the connection ended. */
export class GuestChannelError extends HypervisorError {
  constructor(
    readonly socketPath: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`guest channel ${socketPath}: ${message}`, options);
    this.name = "GuestChannelError";
  }
}

/** A guest agent request got no answer by its deadline. */
export class GuestTimeoutError extends HypervisorError {
  constructor(
    readonly socketPath: string,
    readonly what: string,
    readonly timeoutMs: number,
  ) {
    super(`guest channel ${socketPath}: ${what}: no answer within ${timeoutMs} ms`);
    this.name = "GuestTimeoutError";
  }
}
