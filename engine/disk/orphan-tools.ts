/**
 * qemu-img processes an engine left behind. The engine runs qemu-img as its own child (same
 * process group), but a SIGKILL of the engine alone leaves the child running: it keeps writing
 * a part file the restarted engine is about to remove, and holds the image locks the retried
 * job needs. Each child carries the engine's pid in its environment; a qemu-img whose parent
 * is no longer that pid lost its engine, and the next engine start kills it.
 */
import { promises as fs } from "node:fs";

/** Environment variable naming the engine pid that started a qemu-img. */
export const TOOL_PARENT_ENV = "CLONEFLEET_ENGINE_PID";

/** The environment a qemu-img child gets: the engine's own, plus its pid. */
export function toolEnv(): NodeJS.ProcessEnv {
  return { ...process.env, [TOOL_PARENT_ENV]: String(process.pid) };
}

/** How long a killed tool may take to go before the start goes on without it. */
const REAP_WAIT_MS = 5000;

/**
 * Kills every qemu-img started by an engine that is gone (its recorded parent pid is not its
 * parent any more) and waits until each has exited; answers their pids. Processes it cannot
 * read (vanished meanwhile, or another user's) are skipped.
 */
export async function reapOrphanedTools(procRoot = "/proc"): Promise<number[]> {
  const pids = (await fs.readdir(procRoot).catch(() => [] as string[])).filter((d) => /^\d+$/.test(d)).map(Number);
  const orphans: number[] = [];
  for (const pid of pids) {
    if (await isOrphanedTool(procRoot, pid)) orphans.push(pid);
  }
  for (const pid of orphans) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + REAP_WAIT_MS;
  for (const pid of orphans) {
    while (Date.now() < deadline && (await isAlive(procRoot, pid))) await new Promise((r) => setTimeout(r, 20));
  }
  return orphans;
}

async function isOrphanedTool(procRoot: string, pid: number): Promise<boolean> {
  try {
    const comm = (await fs.readFile(`${procRoot}/${pid}/comm`, "utf8")).trim();
    if (comm !== "qemu-img") return false;
    const env = (await fs.readFile(`${procRoot}/${pid}/environ`, "utf8")).split("\0");
    const mark = env.find((e) => e.startsWith(`${TOOL_PARENT_ENV}=`));
    if (!mark) return false;
    const startedBy = Number(mark.slice(TOOL_PARENT_ENV.length + 1));
    return parentOf(await fs.readFile(`${procRoot}/${pid}/status`, "utf8")) !== startedBy;
  } catch {
    return false;
  }
}

/** The `PPid:` of a /proc/<pid>/status text. */
export function parentOf(status: string): number | null {
  const m = /^PPid:\s*(\d+)/m.exec(status);
  return m ? Number(m[1]) : null;
}

async function isAlive(procRoot: string, pid: number): Promise<boolean> {
  // A zombie still has a /proc entry; its state letter says it is done.
  const status = await fs.readFile(`${procRoot}/${pid}/status`, "utf8").catch(() => null);
  return status !== null && !/^State:\s*Z/m.test(status);
}
