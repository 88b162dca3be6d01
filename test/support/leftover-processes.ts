import { readdirSync, readFileSync } from "node:fs";

/**
 * Jest's global teardown: after the whole run, any process the run started and did not stop
 * (an engine, a provider, a PostgreSQL cluster) is killed and named, and the run fails. Such a
 * process breaks the rule that nothing outlives its test, and one holding a pipe to Jest would
 * keep Jest from exiting until CI's deadline.
 */
export default async function killLeftoverProcesses(): Promise<void> {
  const left = descendantsOf(process.pid);
  if (left.length === 0) return;
  for (const p of left) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  throw new Error(`processes outlived their tests (killed now):\n${left.map((p) => `  pid ${p.pid}: ${p.cmdline}`).join("\n")}`);
}

interface ProcessEntry {
  pid: number;
  ppid: number;
  cmdline: string;
}

/** Every live process below `root` in the process tree, read from /proc. */
function descendantsOf(root: number): ProcessEntry[] {
  const all: ProcessEntry[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // The command name sits in parentheses and may hold spaces; the parent pid follows the state.
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] === "Z") continue;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      all.push({ pid: Number(name), ppid: Number(fields[1]), cmdline });
    } catch {
      // The process ended while we read.
    }
  }
  const out: ProcessEntry[] = [];
  const parents = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid);
        out.push(p);
        grew = true;
      }
    }
  }
  return out;
}
