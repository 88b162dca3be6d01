/** The engine answered with an error: status, stable code, message, and the field at fault. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The engine could not be reached at all (refused, DNS, timeout before any answer). */
export class ApiUnreachableError extends Error {
  constructor(
    readonly endpoint: string,
    readonly reason: string,
  ) {
    super(`cannot reach the clonefleet engine at ${endpoint}: ${reason}`);
    this.name = "ApiUnreachableError";
  }
}

/** A job did not end within the caller's timeout; it keeps running on the engine. */
export class JobTimeoutError extends Error {
  constructor(
    readonly jobId: string,
    readonly timeoutMs: number,
  ) {
    super(`job ${jobId} did not finish within ${Math.round(timeoutMs / 1000)}s; it is still running on the engine`);
    this.name = "JobTimeoutError";
  }
}

/** A job ended failed or cancelled; carries the job's error as the engine recorded it. */
export class JobFailedError extends ApiError {
  constructor(
    readonly jobId: string,
    readonly state: string,
    code: string,
    message: string,
    field?: string,
  ) {
    super(409, code, `job ${jobId} ${state}: ${message}`, field);
    this.name = "JobFailedError";
  }
}

/** A pool did not reach its size within the caller's timeout; carries what it had and its last fill error. */
export class PoolWaitTimeoutError extends Error {
  constructor(
    readonly poolId: string,
    readonly ready: number,
    readonly size: number,
    readonly lastError: { code: string; message: string } | null,
    readonly timeoutMs: number,
  ) {
    super(
      `pool ${poolId} had ${ready} of ${size} copies ready after ${Math.round(timeoutMs / 1000)}s` +
        (lastError ? `; last fill error: ${lastError.code}: ${lastError.message}` : "; it keeps filling on the engine"),
    );
    this.name = "PoolWaitTimeoutError";
  }
}
