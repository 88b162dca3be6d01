/**
 * The one error catalog of the engine. Codes never change once shipped; the API layer alone
 * turns them into HTTP statuses. `field` names the input the way the user wrote it
 * (snake_case, with list indexes such as `datastore_ids[1]`).
 */
export type ErrorCode =
  | "CF_NOT_FOUND"
  | "CF_INVALID_FIELD"
  | "CF_INVALID_BODY"
  | "CF_CONFLICT"
  | "CF_INCOMPATIBLE"
  | "CF_INCOMPATIBLE_PARENT"
  | "CF_UNAUTHORIZED"
  | "CF_HOST_NOT_ALLOWED"
  | "CF_TOKEN_READ_ONLY"
  | "CF_PAYLOAD_TOO_LARGE"
  | "CF_CANCELLED"
  | "CF_INTERRUPTED"
  | "CF_NO_SPACE"
  | "CF_MIGRATION_ABORTED"
  | "CF_MIGRATION_FAILED"
  | "CF_INTERNAL";

export class EngineError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly statusCode: number,
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "EngineError";
  }
}

/** An id the user named does not exist. */
export function notFound(kind: string, id: string, field?: string): EngineError {
  return new EngineError("CF_NOT_FOUND", 404, `${kind} ${JSON.stringify(id)} not found`, field);
}

/** An input is malformed or out of range; `field` says which. */
export function invalidField(field: string, message: string): EngineError {
  return new EngineError("CF_INVALID_FIELD", 400, `${field}: ${message}`, field);
}

/** The request clashes with the current state (duplicate name, object in use, job running). */
export function conflict(message: string, field?: string): EngineError {
  return new EngineError("CF_CONFLICT", 409, message, field);
}

/** The request asks to combine things that cannot work together. */
export function incompatible(message: string, field?: string): EngineError {
  return new EngineError("CF_INCOMPATIBLE", 409, message, field);
}

/** An instant-clone parent's saved state cannot be loaded here (other accelerator, QEMU version or machine). */
export function incompatibleParent(message: string, field?: string): EngineError {
  return new EngineError("CF_INCOMPATIBLE_PARENT", 409, message, field);
}

/** The operation was cancelled on request. */
export function cancelled(message = "cancelled on request"): EngineError {
  return new EngineError("CF_CANCELLED", 409, message);
}

/** A datastore's filesystem ran out of space during `step`; 507 (Insufficient Storage). */
export function noSpace(step: string, cause?: unknown): EngineError {
  return new EngineError("CF_NO_SPACE", 507, `${step}: no space left on the datastore's filesystem`, undefined, { cause });
}

/** True when `err` says a filesystem is full (from node or from qemu-img's stderr). */
export function isNoSpaceError(err: unknown): boolean {
  const e = err as { code?: unknown; stderr?: unknown; message?: unknown } | null;
  if (!e) return false;
  if (e.code === "ENOSPC" || e.code === "EDQUOT") return true;
  const text = `${typeof e.stderr === "string" ? e.stderr : ""}\n${typeof e.message === "string" ? e.message : ""}`;
  return /No space left on device|Disk quota exceeded/i.test(text);
}

/** A failure of the engine or the host, naming the step that failed; the cause is kept for logs. */
export function internal(step: string, cause?: unknown): EngineError {
  const detail = cause instanceof Error ? cause.message : cause === undefined ? "" : String(cause);
  return new EngineError("CF_INTERNAL", 500, detail ? `${step}: ${detail}` : step, undefined, { cause });
}

/** The HTTP status of each code (fixed, like the codes). */
const STATUS_OF_CODE: Record<ErrorCode, number> = {
  CF_NOT_FOUND: 404,
  CF_INVALID_FIELD: 400,
  CF_INVALID_BODY: 400,
  CF_CONFLICT: 409,
  CF_INCOMPATIBLE: 409,
  CF_INCOMPATIBLE_PARENT: 409,
  CF_UNAUTHORIZED: 401,
  CF_HOST_NOT_ALLOWED: 403,
  CF_TOKEN_READ_ONLY: 403,
  CF_PAYLOAD_TOO_LARGE: 413,
  CF_CANCELLED: 409,
  CF_INTERRUPTED: 409,
  CF_NO_SPACE: 507,
  CF_MIGRATION_ABORTED: 409,
  CF_MIGRATION_FAILED: 500,
  CF_INTERNAL: 500,
};

/** The EngineError a failed job recorded (`{code, message, field}`), with its code's status again; unknown codes are 500. */
export function errorOfRecord(record: { code: string; message: string; field?: string }): EngineError {
  const code = (record.code in STATUS_OF_CODE ? record.code : "CF_INTERNAL") as ErrorCode;
  return new EngineError(code, STATUS_OF_CODE[code], record.message, record.field);
}

/** True when `err` is an EngineError (also across module copies). */
export function isEngineError(err: unknown): err is EngineError {
  return err instanceof EngineError || (err instanceof Error && err.name === "EngineError" && "code" in err);
}
