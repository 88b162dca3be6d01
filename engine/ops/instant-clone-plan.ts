/**
 * Pure planning for instant clones (S3): where a parent's files go, what its children are
 * named, input checks, and a bounded parallel map. No I/O here, so each rule has a unit test.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import { engineDir } from "../disk";
import { DEFAULT_PARENT_TMPFS_DIR, MAX_INSTANT_CLONES_PER_REQUEST, MAX_WARM_CHILDREN, NAME_MAX_LENGTH, PARENT_RAM_LOCATIONS, nameProblem, type InstantCloneParent, type ParentRamLocation } from "../model";

/** Where the files of one parent live. */
export interface ParentFiles {
  /** The parent's folder on its datastore (frozen top layer, device state, RAM when on the datastore). */
  dir: string;
  disk: string;
  deviceState: string;
  /** An empty overlay on the frozen layer, copied for each child (a file copy costs less than a qemu-img run). */
  childOverlay: string;
  /** The folder holding the RAM file (the parent's folder, or its own folder on the tmpfs). */
  ramDir: string;
  ram: string;
}

/** This engine's own folder on the tmpfs: one per state folder, so two engines never clean up each other's files. */
export function defaultParentTmpfsDir(stateDir: string): string {
  const tag = createHash("sha256").update(path.resolve(stateDir)).digest("hex").slice(0, 16);
  return path.join(DEFAULT_PARENT_TMPFS_DIR, tag);
}

/**
 * The folders of `tmpfsDir` the engine makes itself and must own privately, outermost first:
 * under the default, `/dev/shm/clonefleet` and this engine's folder in it (any local user could
 * make those first); a folder named with --parent-tmpfs-dir is the administrator's, so only it.
 */
export function parentTmpfsLevels(tmpfsDir: string): string[] {
  const abs = path.resolve(tmpfsDir);
  return path.dirname(abs) === DEFAULT_PARENT_TMPFS_DIR ? [DEFAULT_PARENT_TMPFS_DIR, abs] : [abs];
}

function oneSegment(id: string): string {
  if (id === "" || id === "." || id === ".." || /[/\\\0]/.test(id)) throw new Error(`invalid parent id ${JSON.stringify(id)}: it must be one path segment`);
  return id;
}

/** The folder of one parent on a datastore; throws Error when `parentId` could name anything but one child folder. */
export function parentDir(datastoreRoot: string, parentId: string): string {
  return path.join(engineDir(datastoreRoot), "parents", oneSegment(parentId));
}

/** The files of a parent whose RAM lives at `ramLocation`; throws like `parentDir`. */
export function parentFiles(opts: { datastoreRoot: string; tmpfsDir: string; parentId: string; ramLocation: ParentRamLocation }): ParentFiles {
  const dir = parentDir(opts.datastoreRoot, opts.parentId);
  const ramDir = opts.ramLocation === "tmpfs" ? path.join(opts.tmpfsDir, oneSegment(opts.parentId)) : dir;
  return { dir, disk: path.join(dir, "disk.qcow2"), deviceState: path.join(dir, "device.state"), childOverlay: path.join(dir, "child-overlay.qcow2"), ramDir, ram: path.join(ramDir, "ram") };
}

/** The names of `count` children: `<prefix>-1` … `<prefix>-<count>`. */
export function instantCloneNames(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
}

/** A problem with a requested child count, or null. */
export function cloneCountProblem(count: unknown): string | null {
  if (count === undefined || count === null) return "is required (or give names)";
  if (typeof count !== "number" || !Number.isInteger(count)) return "must be an integer";
  if (count < 1 || count > MAX_INSTANT_CLONES_PER_REQUEST) return `must be between 1 and ${MAX_INSTANT_CLONES_PER_REQUEST} (got ${count})`;
  return null;
}

/** A problem with a parent's count of pre-started children, or null. */
export function warmCountProblem(count: unknown): string | null {
  if (typeof count !== "number" || !Number.isInteger(count)) return "must be an integer";
  if (count < 0 || count > MAX_WARM_CHILDREN) return `must be between 0 and ${MAX_WARM_CHILDREN} (got ${count})`;
  return null;
}

/** A problem with a name prefix for `count` children (the longest child name must be a valid name), or null. */
export function namePrefixProblem(prefix: unknown, count: number): string | null {
  if (prefix === "" || prefix === undefined || prefix === null) return "is required (or give names)";
  const issue = nameProblem(prefix);
  if (issue) return issue;
  const longest = `${prefix as string}-${Math.max(1, count)}`;
  if (longest.length > NAME_MAX_LENGTH) return `is too long: child names such as ${longest} must be at most ${NAME_MAX_LENGTH} characters`;
  return null;
}

/** A problem with a RAM location, or null. */
export function ramLocationProblem(location: unknown): string | null {
  if (typeof location !== "string" || !PARENT_RAM_LOCATIONS.includes(location as ParentRamLocation)) {
    return `must be one of ${PARENT_RAM_LOCATIONS.join(", ")} (got ${JSON.stringify(location)})`;
  }
  return null;
}

/**
 * Runs `fn` over `items` with at most `limit` calls in flight, in order of the items, and
 * settles every call (a failure does not stop the others from being started or awaited).
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`mapBounded: limit must be a positive integer, got ${limit}`);
  const out: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: "fulfilled", value: await fn(items[i], i) };
      } catch (reason) {
        out[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The empty child overlay a parent keeps beside its frozen layer. */
export function childOverlayOf(p: Pick<InstantCloneParent, "deviceStatePath">): string {
  return path.join(path.dirname(p.deviceStatePath), "child-overlay.qcow2");
}
