import { promises as fs } from "node:fs";
import * as path from "node:path";
import { probeVm } from "../../engine/hypervisor";
import { removeRamFile } from "../../engine/ops/guest-ram";

/** Kills every QEMU still running in the state folders under `vmsRoot` (cleanup of tests and of the namespace cluster, also after failures). */
export async function killAllVms(vmsRoot: string): Promise<void> {
  const dirs = await fs.readdir(vmsRoot).catch(() => [] as string[]);
  for (const d of dirs) {
    const probe = await probeVm(path.join(vmsRoot, d)).catch(() => null);
    if (probe?.state !== "running") continue;
    try {
      process.kill(-probe.pid, "SIGKILL");
    } catch {
      // already gone
    }
    for (let i = 0; i < 200 && (await probeVm(path.join(vmsRoot, d)).catch(() => null))?.state === "running"; i++) await new Promise((r) => setTimeout(r, 25));
  }
  // Guest RAM lives on the tmpfs, outside the test's folder.
  for (const d of dirs) await removeRamFile(path.join(vmsRoot, d));
}

