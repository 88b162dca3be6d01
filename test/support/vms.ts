import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import type { ClonefleetClient, VmWire } from "../../engine/client";
import { QmpClient } from "../../engine/hypervisor";

const run = promisify(execFile);

export { killAllVms } from "../../scripts/cluster/vm-cleanup";

/** A datastore and a small template (64 MiB of RAM, a 32 MiB blank disk) for VM tests. */
export async function vmFixture(client: ClonefleetClient, dir: string, memoryMb = 64): Promise<{ datastoreId: string; templateId: string }> {
  const dsPath = path.join(dir, "ds");
  await fs.mkdir(dsPath, { recursive: true });
  const ds = await client.datastores.create({ name: `ds${Date.now() % 100000}`, path: dsPath });
  const img = path.join(dir, "blank.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "32M"]);
  const job = await client.templates.import({ name: `tpl${Date.now() % 100000}`, datastore_id: ds.id, source_path: img, memory_mb: memoryMb, vcpus: 1 });
  const tpl = (await client.waitJob(job.id)).result as { id: string };
  return { datastoreId: ds.id, templateId: tpl.id };
}

/** Creates a VM (full copy) and waits for it. */
export async function createVm(client: ClonefleetClient, name: string, templateId: string, cloneMode = "full"): Promise<VmWire> {
  const job = await client.vms.create({ name, template_id: templateId, clone_mode: cloneMode });
  return (await client.waitJob(job.id)).result as VmWire;
}

/** Forks a VM and waits for the job; answers with the child. */
export async function forkVm(client: ClonefleetClient, id: string, name: string, keepPaused = false): Promise<VmWire & { parent_stun_ms: number | null; child_ready_ms: number | null; layout: string }> {
  const job = await client.vms.fork(id, { name, keep_paused: keepPaused });
  return (await client.waitJob(job.id, { timeoutMs: 60_000 })).result as VmWire & { parent_stun_ms: number | null; child_ready_ms: number | null; layout: string };
}

/** Runs one QMP command on a VM's monitor (connect, execute, disconnect: the engine connects too). */
export async function qmpOnce<T = unknown>(stateDir: string, command: string, args?: Record<string, unknown>): Promise<T> {
  const qmp = await QmpClient.connect(path.join(stateDir, "qmp.sock"), { timeoutMs: 5000 });
  try {
    return (await (qmp.execute as (c: string, a?: unknown) => Promise<unknown>)(command, args)) as T;
  } finally {
    await qmp.disconnect();
  }
}

/** Writes `pattern` over 64 KiB at `offset` of the VM's disk from inside its QEMU (HMP qemu-io on the disk device). */
export async function writeInVm(stateDir: string, offset: string, pattern: number): Promise<void> {
  const blocks = await qmpOnce<{ qdev?: string; inserted?: { "node-name": string } }[]>(stateDir, "query-block");
  const node = blocks.find((b) => (b.qdev ?? "").includes("disk0-dev"))?.inserted?.["node-name"];
  if (!node) throw new Error("the VM has no disk0-dev");
  // The active layer's node: after a fork froze the base it is the new overlay, not `disk0`.
  const out = await qmpOnce<string>(stateDir, "human-monitor-command", { "command-line": `qemu-io ${node} "write -P ${pattern} ${offset} 64k"` });
  if (/error|failed/i.test(out)) throw new Error(`qemu-io in the VM: ${out}`);
}

/** True when the chain of `top` reads `pattern` over 64 KiB at `offset` (opened read-only, unlocked). */
export async function chainHas(top: string, offset: string, pattern: number): Promise<boolean> {
  const { stdout } = await run("qemu-io", ["-U", "-r", "-f", "qcow2", "-c", `read -P ${pattern} ${offset} 64k`, top]).catch((e: { stdout: string }) => ({ stdout: e.stdout ?? "" }));
  return !/Pattern verification failed/.test(stdout) && /read 65536\/65536 bytes/.test(stdout);
}

/** `qemu-img check` (unlocked) passes without errors, corruptions or leaks. */
export async function checkClean(file: string): Promise<boolean> {
  const r = await run("qemu-img", ["check", "-U", "--output=json", file]).then(
    (x) => JSON.parse(x.stdout) as { "check-errors"?: number; corruptions?: number; leaks?: number },
    () => null,
  );
  return r !== null && !r["check-errors"] && !r.corruptions && !r.leaks;
}

/** Whether any process (a zombie included) holds `pid`. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `pid` is gone within 5 s. The engine waits until QEMU has exited; its parent process
 * reaps the zombie a moment later on its own event loop, so a check at one instant can race that.
 */
export async function pidGoneSoon(pid: number): Promise<boolean> {
  for (let i = 0; i < 200 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 25));
  return !pidAlive(pid);
}
