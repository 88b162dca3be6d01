/**
 * Pure input rules shared by the engine (which enforces them) and the client and providers
 * (which check early). Each check returns a problem sentence or null; callers attach the field.
 */
import * as path from "node:path";

export const NAME_MAX_LENGTH = 63;
export const MEMORY_MB_RANGE = { min: 16, max: 1024 * 1024 } as const;
/** QEMU's q35 starts at most 255 CPUs without x2APIC and a split irqchip (which the engine does not set). */
export const VCPUS_RANGE = { min: 1, max: 255 } as const;
export const CMDLINE_MAX_LENGTH = 4096;
export const PATH_MAX_LENGTH = 4096;
export const DEFAULT_MEMORY_MB = 256;
export const DEFAULT_VCPUS = 1;

/** Newline, tab, NUL and the other C0 controls and DEL: they break QEMU's argv, logs and shell quoting. */
function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

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
  if (hasControlCharacter(p)) return "must not contain control characters (newline, tab, NUL, …)";
  if (!path.isAbsolute(p)) return `must be an absolute path (got ${JSON.stringify(p)})`;
  if (p.split(/[\\/]+/).includes("..")) return "must not contain '..' segments";
  return null;
}

/** A kernel command line is one line of printable text, handed to QEMU's `-append`. */
export function cmdlineProblem(cmdline: unknown): string | null {
  if (typeof cmdline !== "string") return "must be a string";
  if (cmdline.length > CMDLINE_MAX_LENGTH) return `must be at most ${CMDLINE_MAX_LENGTH} characters`;
  if (hasControlCharacter(cmdline)) return "must not contain control characters (newline, tab, NUL, …)";
  return null;
}

/**
 * Host folders no datastore may lie in (nor be `/` itself). Kernel interfaces (`/proc`, `/sys`,
 * `/dev`): reading or writing there has side effects or never ends. What root reads as
 * configuration or runs (`/etc`, `/boot`, `/usr` and the program and library folders it may
 * link to) and the runtime state of services (`/run`, small and shared with every daemon):
 * the engine, as root, must not create or delete files there.
 */
export const SYSTEM_FOLDERS = ["/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] as const;

/** A datastore path: absolute, and neither `/` nor inside a system folder (checked on the path as written and again once resolved). */
export function datastorePathProblem(p: unknown): string | null {
  const issue = absolutePathProblem(p);
  if (issue) return issue;
  const normal = path.resolve(p as string);
  if (normal === path.parse(normal).root) return "must not be the root folder /";
  const system = SYSTEM_FOLDERS.find((dir) => pathIsWithin(dir, normal));
  if (system) return `must not lie in the system folder ${system} (got ${JSON.stringify(normal)})`;
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
