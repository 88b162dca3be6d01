/**
 * Guest RAM files. A running VM's RAM is a shared file-backed memory backend at
 * `<vm state>/ram`, so a fork can copy it and an instant-clone capture can hand it over
 * without a copy. On a host with a tmpfs, `ram` is a symlink to a file in a folder of that
 * tmpfs which belongs to one VM state root (one engine host):
 * `/dev/shm/clonefleet-<uid>/<hash of the root>/`, with an `owner` file naming the root.
 * That ownership is what lets an engine find and remove RAM files nothing uses any more:
 * its own that no VM's link names, and other roots' whose folder no longer exists (a state
 * folder deleted while its VMs were killed from outside).
 *
 * The tmpfs is shared with every local user, so both folders must be this process's own with
 * mode 0700: one another user made first (or a symlink they planted) would let them read and
 * swap guest memory. Such a folder is refused, never adopted, and files in it are created
 * exclusively and read without following links.
 */
import { createHash, randomBytes } from "node:crypto";
import { constants as fsc, promises as fs } from "node:fs";
import * as path from "node:path";
import { internal } from "../errors";

/** Name of a VM's guest RAM inside its state folder. */
export const RAM_FILE = "ram";

/**
 * Where guest RAM files live when the host has it: a tmpfs, so a fork's copy of the RAM during
 * the parent's stun runs at memory speed (on a disk filesystem it competes with writeback, and
 * the kernel writes every dirtied guest page back to the disk for nothing).
 */
export const RAM_TMPFS_DIR = "/dev/shm";

const OWNER_FILE = "owner";

/** The tmpfs folder of this user's RAM files (one subfolder per VM state root). */
export function ramTmpfsRoot(tmpfsDir = RAM_TMPFS_DIR): string {
  return path.join(tmpfsDir, `clonefleet-${process.getuid?.() ?? 0}`);
}

/** The tmpfs folder of the RAM files of the VMs under `vmStateRoot`. */
export function ramFolderOf(vmStateRoot: string, tmpfsDir = RAM_TMPFS_DIR): string {
  const key = createHash("sha256").update(path.resolve(vmStateRoot)).digest("hex").slice(0, 16);
  return path.join(ramTmpfsRoot(tmpfsDir), key);
}

/**
 * Makes `<stateDir>/ram` a fresh, empty place for a VM's RAM: a symlink to a new empty file
 * in the tmpfs folder of the state folder's root when there is a tmpfs (QEMU sizes it; it must
 * exist, as QEMU's exclusive create fails on a dangling link), else nothing there; returns
 * the real path the RAM will have. Removes any earlier RAM file of that folder first.
 */
export async function prepareRamFile(stateDir: string, tmpfsDir = RAM_TMPFS_DIR): Promise<string> {
  await removeRamFile(stateDir);
  const link = path.join(stateDir, RAM_FILE);
  const tmpfs = await fs.stat(tmpfsDir).then((st) => st.isDirectory(), () => false);
  if (!tmpfs) return link;
  const root = path.dirname(path.resolve(stateDir));
  const dir = ramFolderOf(root, tmpfsDir);
  await ensurePrivateFolders([ramTmpfsRoot(tmpfsDir), dir]);
  await writeOwner(dir, root);
  const target = path.join(dir, `${path.basename(stateDir)}-${randomBytes(6).toString("hex")}.ram`);
  await fs.writeFile(target, "", { mode: 0o600, flag: "wx" });
  await fs.symlink(target, link);
  return target;
}

/**
 * Makes each folder of `levels` (outermost first, each inside the one before) with mode 0700
 * unless it exists, and checks that each is this process's own private folder. Throws an
 * EngineError (CF_INTERNAL) naming the first that is not, before creating anything below it;
 * an existing folder is never changed.
 */
export async function ensurePrivateFolders(levels: readonly string[]): Promise<void> {
  for (const level of levels) {
    await fs.mkdir(level, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
    const problem = await privateFolderProblem(level);
    if (problem) throw internal("preparing the guest RAM folder", new Error(`${level} ${problem}; another local user could read or replace guest memory through it, so it is not used (remove it)`));
  }
}

/**
 * Why `dir` is not a folder only this process's user can use (a symlink, not a folder,
 * another owner, group or other permission bits), or null when it is; throws when it cannot be
 * looked at.
 */
export async function privateFolderProblem(dir: string): Promise<string | null> {
  const st = await fs.lstat(dir);
  const uid = process.getuid?.() ?? 0;
  if (st.isSymbolicLink()) return "is a symlink";
  if (!st.isDirectory()) return "is not a folder";
  if (st.uid !== uid) return `belongs to uid ${st.uid}, not to this engine's uid ${uid}`;
  if ((st.mode & 0o077) !== 0) return `has mode 0${(st.mode & 0o777).toString(8)}, open to other users (0700 expected)`;
  return null;
}

/** Writes the owner file of a RAM folder already checked to be private, never through a link. */
async function writeOwner(dir: string, root: string): Promise<void> {
  const fh = await fs.open(path.join(dir, OWNER_FILE), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
  try {
    await fh.writeFile(`${root}\n`);
  } finally {
    await fh.close();
  }
}

/** The root an owner file names, or "" when it is missing, unreadable or a link. */
async function readOwner(dir: string): Promise<string> {
  const fh = await fs.open(path.join(dir, OWNER_FILE), fsc.O_RDONLY | fsc.O_NOFOLLOW).catch(() => null);
  if (!fh) return "";
  try {
    return (await fh.readFile("utf8")).trim();
  } catch {
    return "";
  } finally {
    await fh.close();
  }
}

/** The file that holds a VM's RAM: the target of its `ram` link, or `ram` itself. */
export async function ramFileOf(stateDir: string): Promise<string> {
  const link = path.join(stateDir, RAM_FILE);
  const target = await fs.readlink(link).catch(() => null);
  return target ? path.resolve(stateDir, target) : link;
}

/**
 * Removes a VM's RAM file: the tmpfs file its `ram` link names, and the link (or the plain
 * file); returns the tmpfs file it removed, if any.
 */
export async function removeRamFile(stateDir: string): Promise<string | null> {
  const link = path.join(stateDir, RAM_FILE);
  const target = await fs.readlink(link).catch(() => null);
  const file = target ? path.resolve(stateDir, target) : null;
  const removed = file !== null && (await fs.rm(file).then(() => true, () => false));
  await fs.rm(link, { force: true });
  return removed ? file : null;
}

/** What a sweep of RAM files removed. */
export interface RamSweepReport {
  /** RAM files of this root that no VM state folder's link named. */
  removedFiles: string[];
  /** Folders of other roots that no longer exist (with every file in them). */
  removedFolders: string[];
  /** Folders not swept because they are not this user's own private folders (someone else made them). */
  refusedFolders: string[];
}

/**
 * Removes RAM files nothing can use: in `vmStateRoot`'s own folder, each file no
 * `<vmStateRoot>/<vm>/ram` link names; in the tmpfs, the folders of roots that are gone, and
 * loose files left by builds that kept every RAM file in one flat folder (when no process maps
 * them). A QEMU that still maps a removed file keeps its memory until it exits. Run at engine
 * start, before any VM starts.
 */
export async function sweepRamFiles(vmStateRoot: string, tmpfsDir = RAM_TMPFS_DIR): Promise<RamSweepReport> {
  const report: RamSweepReport = { removedFiles: [], removedFolders: [], refusedFolders: [] };
  const base = ramTmpfsRoot(tmpfsDir);
  const baseProblem = await privateFolderProblem(base).catch(() => "is missing");
  if (baseProblem === "is missing") return report;
  if (baseProblem) {
    // Listing it would follow a planted link, and removing in it would touch another user's files.
    report.refusedFolders.push(base);
    return report;
  }
  const entries = await fs.readdir(base, { withFileTypes: true }).catch(() => []);
  if (entries.length === 0) return report;
  const own = ramFolderOf(vmStateRoot, tmpfsDir);
  const mapped = await mappedFiles();
  for (const entry of entries) {
    const full = path.join(base, entry.name);
    if (entry.isFile()) {
      if (entry.name.endsWith(".ram") && !mapped.has(full)) {
        await fs.rm(full, { force: true });
        report.removedFiles.push(full);
      }
      continue;
    }
    if (!entry.isDirectory() || full === own) continue;
    const problem = await privateFolderProblem(full).catch(() => "is gone");
    if (problem === "is gone") continue;
    if (problem) {
      report.refusedFolders.push(full);
      continue;
    }
    const owner = await readOwner(full);
    if (owner && (await fs.stat(owner).then(() => true, () => false))) continue;
    if (!owner && (await fs.readdir(full).then((f) => f.some((n) => mapped.has(path.join(full, n))), () => false))) continue;
    await fs.rm(full, { recursive: true, force: true });
    report.removedFolders.push(full);
  }
  const named = new Set<string>();
  for (const vm of await fs.readdir(vmStateRoot).catch(() => [] as string[])) {
    const target = await fs.readlink(path.join(vmStateRoot, vm, RAM_FILE)).catch(() => null);
    if (target) named.add(path.resolve(vmStateRoot, vm, target));
  }
  const ownProblem = await privateFolderProblem(own).catch(() => "is missing");
  if (ownProblem && ownProblem !== "is missing") report.refusedFolders.push(own);
  for (const name of ownProblem ? [] : await fs.readdir(own).catch(() => [] as string[])) {
    const full = path.join(own, name);
    if (name === OWNER_FILE || named.has(full)) continue;
    await fs.rm(full, { force: true });
    report.removedFiles.push(full);
  }
  return report;
}

/** Every file some process on this machine maps (from /proc/<pid>/maps), as far as we may read. */
async function mappedFiles(): Promise<Set<string>> {
  const files = new Set<string>();
  const pids = (await fs.readdir("/proc").catch(() => [] as string[])).filter((n) => /^\d+$/.test(n));
  for (const pid of pids) {
    const maps = await fs.readFile(`/proc/${pid}/maps`, "utf8").catch(() => "");
    for (const line of maps.split("\n")) {
      const at = line.indexOf("/");
      if (at > 0) files.add(line.slice(at).replace(/ \(deleted\)$/, ""));
    }
  }
  return files;
}
