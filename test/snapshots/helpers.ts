import { execFile } from "node:child_process";
import * as path from "node:path";
import { promisify } from "node:util";
import type { ClonefleetClient, JobWire, SnapshotWire } from "../../engine/client";
import { QmpClient } from "../../engine/hypervisor";

export const run = promisify(execFile);

/** One QMP session on a VM's monitor (the socket serves one client at a time, so keep it short). */
export async function withQmp<T>(stateDir: string, fn: (qmp: QmpClient) => Promise<T>): Promise<T> {
  const qmp = await QmpClient.connect(path.join(stateDir, "qmp.sock"), { timeoutMs: 20_000 });
  try {
    return await fn(qmp);
  } finally {
    await qmp.disconnect();
  }
}

/** The qdev path of the disk's BlockBackend (the virtio-blk device inside virtio-blk-pci). */
async function qdevOf(qmp: QmpClient): Promise<string> {
  const blocks = await qmp.execute("query-block");
  const qdev = blocks.find((b) => (b.qdev ?? "").includes("disk0-dev"))?.qdev;
  if (!qdev) throw new Error("the VM has no disk0-dev");
  return qdev;
}

/**
 * Writes `pattern` over 64 KiB at `offset` through the guest's own disk device (HMP `qemu-io -d`
 * on the virtio-blk qdev, so the write takes the path a guest write takes) and reports the run
 * state seen in the same session.
 */
export async function guestWrite(stateDir: string, offset: number, pattern: number): Promise<string> {
  return withQmp(stateDir, async (qmp) => {
    const out = await qmp.hmp(`qemu-io -d ${await qdevOf(qmp)} "write -P ${pattern} ${offset} 64k"`);
    if (out.trim()) throw new Error(`qemu-io in the VM: ${out}`);
    return (await qmp.execute("query-status")).status;
  });
}

/** Writes `pattern` over `len` bytes at `offset` through the guest's disk device. */
export async function guestFill(stateDir: string, offset: number, len: string, pattern: number): Promise<void> {
  const out = await withQmp(stateDir, async (qmp) => qmp.hmp(`qemu-io -d ${await qdevOf(qmp)} "write -P ${pattern} ${offset} ${len}"`));
  if (out.trim()) throw new Error(`qemu-io in the VM: ${out}`);
}

/** The offsets (64 KiB slots) whose read-back through the chain of `top` does not show the expected pattern. */
export async function mismatches(top: string, expected: Map<number, number>): Promise<number[]> {
  const bad: number[] = [];
  const entries = [...expected.entries()];
  // One qemu-io process for many reads: -c may be repeated.
  for (let i = 0; i < entries.length; i += 64) {
    const batch = entries.slice(i, i + 64);
    const args = ["-U", "-r", "-f", "qcow2"];
    for (const [off, pat] of batch) args.push("-c", `read -P ${pat} ${off} 64k`);
    args.push(top);
    const { stdout } = await run("qemu-io", args, { maxBuffer: 64 << 20 }).catch((e: { stdout: string }) => ({ stdout: e.stdout ?? "" }));
    const failed = new Set([...stdout.matchAll(/Pattern verification failed at offset (\d+)/g)].map((m) => Number(m[1])));
    const read = new Set([...stdout.matchAll(/read 65536\/65536 bytes at offset (\d+)/g)].map((m) => Number(m[1])));
    for (const [off] of batch) if (failed.has(off) || !read.has(off)) bad.push(off);
  }
  return bad;
}

/** `qemu-img check -U` is clean. */
export async function cleanCheck(file: string): Promise<boolean> {
  const r = await run("qemu-img", ["check", "-U", "--output=json", file]).then(
    (x) => JSON.parse(x.stdout) as { "check-errors"?: number; corruptions?: number; leaks?: number },
    () => null,
  );
  return r !== null && !r["check-errors"] && !r.corruptions && !r.leaks;
}

/** Takes a snapshot and waits for it. */
export async function snap(client: ClonefleetClient, vmId: string, name: string): Promise<SnapshotWire> {
  const job = await client.snapshots.create(vmId, { name });
  return (await client.waitJob(job.id, { timeoutMs: 60_000 })).result as SnapshotWire;
}

/** Deletes a snapshot and waits for the consolidation. */
export async function consolidate(client: ClonefleetClient, id: string, speedBytesPerSec?: number): Promise<JobWire> {
  const job = await client.snapshots.delete(id, { speedBytesPerSec });
  return client.waitJob(job.id, { timeoutMs: 120_000 });
}
