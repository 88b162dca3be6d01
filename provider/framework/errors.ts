/**
 * How errors thrown by operations reach users: as diagnostics whose summary names the
 * operation and type, whose detail carries the message, and whose attribute path comes from
 * the error's `field` (the engine writes fields such as `datastore_ids[1]`).
 */
import { Diagnostic } from "../protocol/diagnostics";
import { parseFieldPath } from "../protocol/path";

/** Turns an error thrown by an operation into a diagnostic; `verb` is create, read, update, delete, import or configure. */
export type ToDiagnostic = (err: unknown, verb: string, typeName: string, id?: string) => Diagnostic;

/** Decides whether an error from Read means the object is gone. */
export type IsNotFound = (err: unknown) => boolean;

/** Thrown when an operation runs past its timeout or Terraform asks the provider to stop. */
export class OperationAbortedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OperationAbortedError";
  }
}

/**
 * The default ToDiagnostic: summary "Cannot <verb> <typeName>", detail the message plus the
 * resource id and error code when known, path from a string `field` property.
 */
export const defaultToDiagnostic: ToDiagnostic = (err, verb, typeName, id) => {
  const e = (typeof err === "object" && err !== null ? err : {}) as { message?: unknown; field?: unknown; code?: unknown };
  const message = err instanceof Error ? err.message : typeof e.message === "string" ? e.message : String(err);
  const lines = [message];
  if (id) lines.push(`Resource id: ${id}`);
  if (typeof e.code === "string" && !message.includes(e.code)) lines.push(`Error code: ${e.code}`);
  const path = typeof e.field === "string" ? parseFieldPath(e.field) : undefined;
  return { severity: "error", summary: `Cannot ${verb} ${typeName}`, detail: lines.join("\n"), path };
};

/** The default IsNotFound: an HTTP 404 (`status` or `statusCode`) or the engine's CF_NOT_FOUND code. */
export const defaultIsNotFound: IsNotFound = (err) => {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { status?: unknown; statusCode?: unknown; code?: unknown };
  return e.status === 404 || e.statusCode === 404 || e.code === "CF_NOT_FOUND";
};
