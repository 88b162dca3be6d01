import { promises as fs } from "node:fs";
import * as path from "node:path";

/** A process of QEMU's tools or emulator whose command line names a path under a folder. */
export interface QemuProcess {
  pid: number;
  program: string;
}

/** Every live process whose program is a QEMU binary (qemu-system-*, qemu-img, qemu-nbd…) and whose command line names a path under `dir`. */
export async function qemuProcessesUnder(dir: string): Promise<QemuProcess[]> {
  const out: QemuProcess[] = [];
  for (const entry of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await fs.readFile(path.join("/proc", entry, "cmdline"), "utf8").catch(() => "")).split("\0");
    const program = path.basename(argv[0] ?? "");
    if (program.startsWith("qemu") && argv.some((a) => a.includes(dir))) out.push({ pid: Number(entry), program });
  }
  return out;
}

/** True while process `pid` exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** SIGKILLs each of `pids` (by id) and waits up to 5 s for them to go. */
export async function killPids(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 200 && pids.some(isAlive); i++) await new Promise((r) => setTimeout(r, 25));
}
