/**
 * The guard the engine puts before it deletes or writes in a folder it owns (a VM state root,
 * a datastore's `clonefleet/` folder): the path must resolve, symlinks followed, to a place
 * strictly inside that folder. The engine runs as root, so a path built from a bad id or a
 * symlink planted in its folders must never reach `rm -rf`.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";

/** A path the engine was about to delete or write lies outside the folder it owns there. */
export class OutsideOwnedFolderError extends Error {
  constructor(
    readonly root: string,
    readonly candidate: string,
    readonly resolved: string,
  ) {
    super(`refusing to touch ${candidate}: it resolves to ${resolved}, which is not inside the engine's folder ${root}`);
    this.name = "OutsideOwnedFolderError";
  }
}

/**
 * `p` with every symlink of its existing part resolved and its missing part appended; throws
 * OutsideOwnedFolderError for a dangling symlink on the way (a write through it would land
 * wherever it points), and rethrows other errors (ELOOP, EACCES).
 */
async function resolveExisting(p: string, root: string, candidate: string): Promise<string> {
  const missing: string[] = [];
  let existing = path.resolve(p);
  for (;;) {
    try {
      return path.join(await fs.realpath(existing), ...missing);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") throw err;
    }
    const link = await fs.readlink(existing).catch(() => null);
    if (link !== null) throw new OutsideOwnedFolderError(root, candidate, path.resolve(path.dirname(existing), link));
    const parent = path.dirname(existing);
    if (parent === existing) return path.resolve(p);
    missing.unshift(path.basename(existing));
    existing = parent;
  }
}

/**
 * The real path of `candidate` when it lies strictly inside `root` (the root itself is not
 * inside it) once both are resolved, symlinks included; `candidate` need not exist yet.
 * Throws OutsideOwnedFolderError otherwise.
 */
export async function ownedPath(root: string, candidate: string): Promise<string> {
  const realRoot = await resolveExisting(root, root, candidate);
  const real = await resolveExisting(candidate, root, candidate);
  const rel = path.relative(realRoot, real);
  if (rel === "" || rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new OutsideOwnedFolderError(root, candidate, real);
  }
  return real;
}

/**
 * Removes the tree at `candidate` (nothing when it is missing) after `ownedPath` proved it lies
 * inside `root`; a symlink at `candidate` itself is removed, never followed. Throws
 * OutsideOwnedFolderError and leaves everything in place otherwise.
 */
export async function removeOwnedTree(root: string, candidate: string): Promise<void> {
  await ownedPath(root, candidate);
  await fs.rm(path.resolve(candidate), { recursive: true, force: true });
}
