/**
 * Modes of what the engine keeps on a datastore. Disks hold guest data, so other local users
 * get no access: folders 0750, files 0640 (the group is the datastore's administrators'). The
 * engine runs with umask 027, which covers everything it and its children (qemu-img, QEMU, cp)
 * create; `copyFile` is the one path that does not obey it, as it gives the copy the source's
 * mode, so copies go through `copyFileRestricted`.
 */
import { promises as fsp } from "node:fs";
import * as path from "node:path";

/** Bits the engine masks from every file and folder it or its child processes create. */
export const ENGINE_UMASK = 0o027;

/** Mode of the engine's files on a datastore (disks, backups, catalog). */
export const ENGINE_FILE_MODE = 0o640;

/** Permission bits no file or folder of the engine on a datastore may have. */
const FORBIDDEN_BITS = ENGINE_UMASK;

/** Adds the engine's bits to this process's umask (a stricter umask stays); returns the umask now in force. May be called only in the main thread. */
export function applyEngineUmask(): number {
  const now = process.umask() | ENGINE_UMASK;
  process.umask(now);
  return now;
}

/** Copies `src` onto `dst` (`flags` as for `fs.copyFile`) and gives the copy the engine's file mode; throws the filesystem's error. */
export async function copyFileRestricted(src: string, dst: string, flags?: number): Promise<void> {
  await fsp.copyFile(src, dst, flags);
  await fsp.chmod(dst, ENGINE_FILE_MODE);
}

/**
 * Removes group-write and every "other" bit from the folders and files under `dir` (the
 * engine's folder of a datastore, made by an earlier build with looser modes); symlinks are
 * neither followed nor changed; returns the paths it changed. Throws when `dir` cannot be read.
 */
export async function restrictEngineTree(dir: string): Promise<string[]> {
  const changed: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p).catch(() => null);
    if (!st || (!st.isDirectory() && !st.isFile())) return;
    if ((st.mode & FORBIDDEN_BITS) !== 0) {
      await fsp.chmod(p, st.mode & 0o7777 & ~FORBIDDEN_BITS);
      changed.push(p);
    }
    if (!st.isDirectory()) return;
    for (const name of await fsp.readdir(p).catch(() => [] as string[])) await visit(path.join(p, name));
  };
  await visit(dir);
  return changed;
}
