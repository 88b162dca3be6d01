/**
 * Pure input rules shared by the engine (which enforces them) and the client and providers
 * (which check early). Each check returns a problem sentence or null; callers attach the field.
 */
import * as path from "node:path";

export const NAME_MAX_LENGTH = 63;
export const MEMORY_MB_RANGE = { min: 16, max: 1024 * 1024 } as const;
export const VCPUS_RANGE = { min: 1, max: 256 } as const;
export const CMDLINE_MAX_LENGTH = 4096;
export const PATH_MAX_LENGTH = 4096;
export const DEFAULT_MEMORY_MB = 256;
export const DEFAULT_VCPUS = 1;

/** Names are what users type in HCL: letters, digits, `.`, `_`, `-`; no path separators or `..`. */
export function nameProblem(name: unknown): string | null {
  if (typeof name !== "string") return "must be a string";
  if (name.length === 0) return "must not be empty";
  if (name.length > NAME_MAX_LENGTH) return `must be at most ${NAME_MAX_LENGTH} characters (got ${name.length})`;
  if (name.includes("/") || name.includes("\\")) return "must not contain '/' or '\\'";
  if (name === "." || name.includes("..")) return "must not contain '..'";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    return "may hold only letters, digits, '.', '_' and '-', and must start with a letter or digit";
  }
  return null;
}

/** A host path the user gives must be absolute and must not walk upwards with `..`. */
export function absolutePathProblem(p: unknown): string | null {
  if (typeof p !== "string") return "must be a string";
  if (p.length === 0) return "must not be empty";
  if (p.length > PATH_MAX_LENGTH) return `must be at most ${PATH_MAX_LENGTH} characters`;
  if (p.includes("\0")) return "must not contain NUL characters";
  if (!path.isAbsolute(p)) return `must be an absolute path (got ${JSON.stringify(p)})`;
  if (p.split(/[\\/]+/).includes("..")) return "must not contain '..' segments";
  return null;
}

/** An integer within [min, max], inclusive. */
export function intRangeProblem(value: unknown, range: { min: number; max: number }): string | null {
  if (typeof value !== "number" || !Number.isInteger(value)) return "must be an integer";
  if (value < range.min || value > range.max) return `must be between ${range.min} and ${range.max} (got ${value})`;
  return null;
}

/** True when `child` is `parent` itself or lies beneath it, compared after normalisation. */
export function pathIsWithin(parent: string, child: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child));
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** Copies one disk pool may hold; beyond this a request is a mistake, not a plan. */
export const POOL_SIZE_RANGE = { min: 0, max: 1024 } as const;
/** Members one fleet may have. */
export const FLEET_SIZE_RANGE = { min: 0, max: 1024 } as const;
/** Datastores one fleet may spread over. */
export const FLEET_DATASTORES_MAX = 64;
/** Room left in a name for a fleet member's `-<n>` suffix (up to 1024 members). */
export const NAME_PREFIX_MAX_LENGTH = NAME_MAX_LENGTH - 5;

/** A fleet's name prefix follows the name rules and leaves room for the member suffix. */
export function namePrefixProblem(prefix: unknown): string | null {
  const issue = nameProblem(prefix);
  if (issue) return issue;
  if ((prefix as string).length > NAME_PREFIX_MAX_LENGTH) {
    return `must be at most ${NAME_PREFIX_MAX_LENGTH} characters, leaving room for the member number (got ${(prefix as string).length})`;
  }
  return null;
}
