/** Backing a VM up (S4): snapshot, flattened copy of the frozen chain, consolidation; and recovery. */
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import { convert, newContentId } from "../disk";
import { cancelled, conflict, internal, isEngineError, isNoSpaceError, noSpace, notFound } from "../errors";
import { type Vm } from "../model";
import type { OpContext } from "./context";
import { withVmLock } from "./vm-power";
import { checkBackupTarget, type BackupVmRequest, type BackupVmResult, type DeleteSnapshotResult, roundMs } from "./snapshot";
import { createSnapshotLocked, recoverSnapshotCreate, type CreateIntent } from "./snapshot-create";
import { deleteSnapshot, deleteSnapshotLocked, recoverSnapshotDelete, type DeleteIntent } from "./snapshot-consolidate";

/** What a backup recorded: its part file, then the intents of its snapshot and consolidation. */
interface BackupIntent {
  op: "backup";
  vmId: string;
  targetPath: string;
  partPath: string;
  create?: CreateIntent;
  del?: DeleteIntent;
}


/**
 * Backs a VM up into `targetPath`: a snapshot, a flattened copy of its frozen point-in-time
 * chain (read with -U while the VM runs on), then the snapshot's consolidation. Progress goes
 * 0–100 over the three steps. On failure the part file is removed and the snapshot consolidated.
 */
export async function backupVm(ctx: OpContext, req: BackupVmRequest): Promise<BackupVmResult> {
  // The request was checked when the job was admitted; only what may have changed since is checked again.
  const vm = await ctx.store.vms.get(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "id");
  if (existsSync(req.targetPath)) throw conflict(`target_path: ${req.targetPath} exists already`, "target_path");
  // Again at run time: a folder on the way may have been swapped for a symlink since admission.
  await checkBackupTarget(ctx.store, ctx.settings, req.targetPath);
  const intent: BackupIntent = {
    op: "backup",
    vmId: vm.id,
    targetPath: req.targetPath,
    partPath: path.join(path.dirname(req.targetPath), `.${path.basename(req.targetPath)}.cf-part`),
  };
  await ctx.recordIntent(intent);
  const steps = (done: number, message: string) => ctx.progress({ unit: "steps", total: 100, done: Math.round(done), message });
  // One hold of the VM for the whole backup: a fork, capture or migration in between would
  // rest new disks on the snapshot's layer and leave it impossible to consolidate.
  return withVmLock(vm.id, () => backupLocked(ctx, req, vm, intent, steps));
}

async function backupLocked(ctx: OpContext, req: BackupVmRequest, vm: Vm, intent: BackupIntent, steps: (done: number, message: string) => void): Promise<BackupVmResult> {
  steps(0, "taking a snapshot");
  const t0 = performance.now();
  const snap = await createSnapshotLocked({ ...ctx, progress: () => undefined }, { vmId: vm.id, name: `backup-${newContentId().slice(0, 8)}` }, async (c) => {
    intent.create = c;
    await ctx.recordIntent(intent);
  });
  const snapshotMs = roundMs(performance.now() - t0);
  let copyMs = 0;
  let copyError: unknown = null;
  try {
    steps(5, "copying the frozen disk");
    const t1 = performance.now();
    // qemu-img writes through whatever sits at the part name; a leftover (or a planted symlink) goes first.
    await fs.rm(intent.partPath, { force: true });
    await convert(snap.frozenDiskPath, intent.partPath, {
      dstFormat: req.format,
      forceShare: true,
      signal: ctx.signal,
      // A backup is a background disk copy like an import: it honours the engine's copy cap.
      rateLimitBytesPerSec: ctx.settings.copyRateLimitBytesPerSec,
      onProgress: (f) => steps(5 + f * 75, "copying the frozen disk"),
    });
    await fs.rename(intent.partPath, req.targetPath);
    copyMs = roundMs(performance.now() - t1);
  } catch (err) {
    copyError = err;
    await fs.rm(intent.partPath, { force: true }).catch(() => undefined);
  }
  steps(80, "consolidating the snapshot");
  // The snapshot goes even when the copy failed or was cancelled: a backup leaves no layer behind.
  let consolidation: DeleteSnapshotResult;
  try {
    consolidation = await deleteSnapshotLocked(
      { ...ctx, signal: new AbortController().signal, progress: (p) => (p.unit === "bytes" && p.total ? steps(80 + (20 * (p.done ?? 0)) / p.total, "consolidating the snapshot") : undefined) },
      { id: snap.id, speedBytesPerSec: req.speedBytesPerSec },
      async (d) => {
        intent.del = d;
        await ctx.recordIntent(intent);
      },
    );
  } catch (err) {
    // A failed backup job leaves no target behind, whatever step failed.
    if (!copyError) await fs.rm(req.targetPath, { force: true }).catch(() => undefined);
    throw err;
  }
  if (copyError) {
    if (ctx.signal.aborted) throw cancelled("the backup was cancelled; its snapshot was consolidated");
    if (isEngineError(copyError)) throw copyError;
    const step = `copying VM ${vm.name}'s frozen disk to ${req.targetPath}`;
    if (isNoSpaceError(copyError)) throw noSpace(step, copyError);
    throw internal(step, copyError);
  }
  steps(100, "backed up");
  const sizeBytes = (await fs.stat(req.targetPath)).size;
  return { vmId: vm.id, targetPath: req.targetPath, format: req.format, sizeBytes, snapshotMs, copyMs, consolidation };
}

/** After a crash during a backup: the part file goes, the snapshot (if one was taken) is consolidated; a target already in place counts as finished. */
export async function recoverBackup(ctx: OpContext, req: BackupVmRequest, intent: unknown): Promise<{ finished: BackupVmResult | null; detail: string }> {
  const i = intent as BackupIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the backup began" };
  await fs.rm(i.partPath, { force: true });
  let snapshotId: string | null = null;
  if (i.create) snapshotId = (await recoverSnapshotCreate(ctx, i.create)).finished?.id ?? null;
  let consolidation: DeleteSnapshotResult | null = null;
  if (i.del) consolidation = (await recoverSnapshotDelete(ctx, i.del)).finished;
  else if (snapshotId && (await ctx.store.snapshots.get(snapshotId))) consolidation = await deleteSnapshot({ ...ctx, signal: new AbortController().signal }, { id: snapshotId });
  if (snapshotId && (await ctx.store.snapshots.get(snapshotId)) && !consolidation) {
    consolidation = await deleteSnapshot({ ...ctx, signal: new AbortController().signal }, { id: snapshotId }).catch(() => null);
  }
  if (existsSync(i.targetPath) && consolidation) {
    const sizeBytes = (await fs.stat(i.targetPath)).size;
    return { finished: { vmId: i.vmId, targetPath: i.targetPath, format: req.format, sizeBytes, snapshotMs: 0, copyMs: 0, consolidation }, detail: "" };
  }
  return { finished: null, detail: "the engine stopped during the backup; the partial copy was removed and the snapshot consolidated" };
}
