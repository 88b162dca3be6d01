import { readFileSync } from "node:fs";
import { optValue, stateFiles } from "../hypervisor";

/**
 * The live pid of the QEMU in `stateDir`, or null: read synchronously from its pidfile and
 * /proc, and checked to be that folder's QEMU (its command line names the QMP socket).
 */
export function livePid(stateDir: string | null | undefined): number | null {
  if (!stateDir) return null;
  const files = stateFiles(stateDir);
  try {
    const pid = Number.parseInt(readFileSync(files.pidFile, "utf8").trim(), 10);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const st = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    if (st === "Z" || st === "X") return null;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.split("\0").some((a) => a.includes(`path=${optValue(files.qmpSocket)},`)) ? pid : null;
  } catch {
    return null;
  }
}
