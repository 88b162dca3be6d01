import { readFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { optValue, stateFiles, type StateFiles } from "./args";

/**
 * Whether a pid is still a state folder's QEMU, judged from /proc.
 *
 * A process that has begun to exit has already dropped its memory, so its command line reads
 * empty, but it still holds its files (the disk images and their locks) until the kernel
 * closes them; only a zombie is really gone. Such a process is still counted as alive.
 */

/** PF_EXITING in the flags field of /proc/<pid>/stat. */
const PF_EXITING = 0x4;

/** Judges one process from the text of its /proc stat and cmdline files (null when unreadable). */
export function isQemuOfSocket(stat: string | null, cmdline: string | null, qmpSocket: string): boolean {
  if (stat === null) return false;
  // The command name may hold spaces and parentheses; the fields follow the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  if (!state || state === "Z" || state === "X") return false;
  if (cmdline) return cmdline.split("\0").some((arg) => arg.includes(`path=${optValue(qmpSocket)},`));
  const flags = Number.parseInt(fields[6] ?? "", 10);
  return Number.isInteger(flags) && (flags & PF_EXITING) !== 0;
}

function readSync(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

async function read(file: string): Promise<string | null> {
  return fsp.readFile(file, "utf8").catch(() => null);
}

/** True when `pid` is the (possibly still exiting) QEMU whose command line names this state folder's QMP socket, so a reused pid is not mistaken for it. */
export async function isLiveQemuOf(pid: number, files: StateFiles): Promise<boolean> {
  return isQemuOfSocket(await read(`/proc/${pid}/stat`), await read(`/proc/${pid}/cmdline`), files.qmpSocket);
}

/** The live pid of the QEMU in `stateDir`, or null: read synchronously from its pidfile and /proc. */
export function livePid(stateDir: string | null | undefined): number | null {
  if (!stateDir) return null;
  const files = stateFiles(stateDir);
  const pid = Number.parseInt((readSync(files.pidFile) ?? "").trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  return isQemuOfSocket(readSync(`/proc/${pid}/stat`), readSync(`/proc/${pid}/cmdline`), files.qmpSocket) ? pid : null;
}
