/** Deleting a snapshot by consolidation (S4), live or offline, and recovering one a crash interrupted. */
import { promises as fs } from "node:fs";
import { commit, imageInfoChain, newContentId, rebase } from "../disk";
import { cancelled, conflict, internal, isEngineError, isNoSpaceError, noSpace, notFound } from "../errors";
import { anyNodeOnFile, dropBlockNode, liveChainFiles, nodeOfFile, withReattachedQmp } from "../hypervisor";
import { type DiskLayer, type Vm } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { chainAfter, planConsolidation, type ConsolidationPlan, type PlanLayer } from "./snapshot-plan";
import { diskLayersOf, withVmLock } from "./vm-power";
import { faultHold } from "./fault-hold";
import { isRunning, type DeleteSnapshotRequest, type DeleteSnapshotResult, roundMs } from "./snapshot";

/** The fault-hold variable of snapshot, consolidation and backup jobs (crash tests). */
const SNAPSHOT_HOLD = "CLONEFLEET_FAULT_SNAPSHOT_HOLD";

/** Longest a live commit may take to reach READY (or finish) before the job gives up and cancels it. */
const COMMIT_TIMEOUT_MS = 30 * 60_000;
/** A speed-capped commit runs uncapped once this little is left, so it converges under guest writes. */
const CONVERGE_UNCAPPED_BYTES = 4 * 1024 * 1024;
/** How often a running block job's progress is read. */
const PROGRESS_POLL_MS = 25;

/** What a consolidation recorded before its commit began. */
export interface DeleteIntent {
  op: "delete";
  vmId: string;
  snapshotId: string;
  plan: ConsolidationPlan;
  live: boolean;
  jobId: string;
  /** Set once the commit may have started writing into the base layer. */
  started?: boolean;
}


async function planFor(store: Inventory, vm: Vm, snapshotId: string): Promise<{ plan: ConsolidationPlan; layers: DiskLayer[] }> {
  const layers = await diskLayersOf(store, vm);
  const owners = new Map((await store.snapshots.list({ vmId: vm.id })).map((s) => [s.layerId, s.id]));
  const chain: PlanLayer[] = layers.map((l) => ({ id: l.id, path: l.path, snapshotId: owners.get(l.id) ?? null }));
  let plan: ConsolidationPlan;
  try {
    plan = planConsolidation(chain, snapshotId);
  } catch (err) {
    throw conflict(`VM ${vm.name}: ${(err as Error).message}`, "id");
  }
  // Another disk (a fork's child, say) resting on either layer would see its data change.
  const outside = (await store.layers.list()).filter((l) => (l.backingPath === plan.base.path && l.id !== plan.top.id) || (l.backingPath === plan.top.path && l.id !== plan.above?.id));
  if (outside.length > 0) throw conflict(`snapshot ${snapshotId}: other disks rest on its layers: ${outside.map((l) => l.path).join(", ")}`, "id");
  return { plan, layers };
}

/**
 * Deletes a snapshot by consolidating its chain (see the file comment). Progress is reported
 * in bytes of the block job; cancelling stops the commit and leaves the VM running on a
 * consistent chain (the snapshot stays, marked drifted when its layer was already written).
 * Throws 404/409 for a bad request, CF_CANCELLED, or 500 naming the failed step.
 */
export async function deleteSnapshot(ctx: OpContext, req: DeleteSnapshotRequest): Promise<DeleteSnapshotResult> {
  const snap = await ctx.store.snapshots.get(req.id);
  if (!snap) throw notFound("snapshot", req.id, "id");
  return withVmLock(snap.vmId, () => deleteSnapshotLocked(ctx, req, (i) => ctx.recordIntent(i)));
}

/** Consolidates a snapshot while the caller holds the VM's lock (a backup holds it across its steps). */
export async function deleteSnapshotLocked(ctx: OpContext, req: DeleteSnapshotRequest, record: (i: DeleteIntent) => Promise<void> | void): Promise<DeleteSnapshotResult> {
  const snap = await ctx.store.snapshots.get(req.id);
  if (!snap) throw notFound("snapshot", req.id, "id");
  const vm = await ctx.store.vms.get(snap.vmId);
  if (!vm) throw conflict(`snapshot ${snap.id}'s VM is gone`, "id");
  const { plan, layers } = await planFor(ctx.store, vm, snap.id);
  const live = isRunning(vm);
  const intent: DeleteIntent = { op: "delete", vmId: vm.id, snapshotId: snap.id, plan, live, jobId: `cf-commit-${newContentId().slice(0, 12)}` };
  await record(intent);
  const t0 = performance.now();
  let bytes = 0;
  let pivotMs: number | null = null;
  let guestPaused = false;
  const method: DeleteSnapshotResult["method"] = live ? (plan.active ? "live-active-commit" : "live-commit") : "offline-commit";
  try {
    if (live) {
      ({ bytes, pivotMs, guestPaused } = await liveCommit(ctx, vm, plan, intent, req.speedBytesPerSec, record));
    } else {
      intent.started = true;
      await record(intent);
      ctx.progress({ unit: "steps", done: 0, total: 2, message: "committing offline" });
      await offlineCommit(plan, ctx.signal);
      bytes = (await fs.stat(plan.top.path)).size;
    }
    await faultHold(ctx, SNAPSHOT_HOLD, "delete-before-records");
    await commitDelete(ctx.store, vm, plan, snap.id);
  } catch (err) {
    if (intent.started && (await ctx.store.snapshots.get(snap.id))) {
      // The base layer took part of the data: the VM's chain is sound, the point in time is not.
      await ctx.store.tx(async (s) => {
        await s.snapshots.update(snap.id, { state: "drifted" });
        await s.layers.update(plan.base.id, { contentId: newContentId() });
        await s.layers.update(plan.top.id, { parentContentId: (await s.layers.get(plan.base.id))!.contentId });
      });
      await syncCatalog(ctx.store, layers[0].datastoreId);
    }
    if (ctx.signal.aborted) throw cancelled(`deleting snapshot ${snap.name} was cancelled; VM ${vm.name} runs on its full chain`);
    if (isEngineError(err)) throw err;
    const step = `consolidating snapshot ${snap.name} of VM ${vm.name}`;
    if (isNoSpaceError(err)) throw noSpace(step, err);
    throw internal(step, err);
  }
  await fs.rm(plan.top.path, { force: true });
  await syncCatalog(ctx.store, layers[0].datastoreId);
  const durationMs = roundMs(performance.now() - t0);
  const chainDepth = chainAfter(layers.map((l) => ({ id: l.id, path: l.path, snapshotId: null })), plan).length;
  ctx.progress({ message: "consolidated" });
  ctx.log.info({ vmId: vm.id, snapshotId: snap.id, method, durationMs, pivotMs, guestPaused }, "snapshot consolidated");
  return { id: snap.id, vmId: vm.id, method, removedPath: plan.top.path, basePath: plan.base.path, bytes, durationMs, pivotMs, guestPaused, chainDepth };
}

async function offlineCommit(plan: ConsolidationPlan, signal: AbortSignal): Promise<void> {
  // -d keeps the top intact, so the chain reads the same however far the commit got; redoing it is harmless.
  await commit(plan.top.path, { drop: true, signal });
  if (plan.above) await rebase(plan.above.path, { backingPath: plan.base.path, unsafe: true, signal });
}

/**
 * Runs the live commit. The VM's QMP socket serves one client at a time, so the op does not
 * hold it: it connects for each step (start, each progress poll, the pivot) and lets go in
 * between, leaving the monitor to others (a guest agent, an operator, the tests' writers).
 */
async function liveCommit(
  ctx: OpContext,
  vm: Vm,
  plan: ConsolidationPlan,
  intent: DeleteIntent,
  speed: number | undefined,
  record: (i: DeleteIntent) => Promise<void> | void,
): Promise<{ bytes: number; pivotMs: number | null; guestPaused: boolean }> {
  const jobId = intent.jobId;
  const topNode = await withReattachedQmp(vm.stateDir!, async (qmp) => {
    const chain = await liveChainFiles(qmp);
    const topAt = chain.files.indexOf(plan.top.path);
    if (topAt < 0 || chain.files[topAt + 1] !== plan.base.path || (plan.active && topAt !== 0)) {
      throw conflict(`the VM's live chain (${chain.files.join(" → ")}) does not match the inventory`, "id");
    }
    const top = await nodeOfFile(qmp, plan.top.path);
    const base = await nodeOfFile(qmp, plan.base.path);
    intent.started = true;
    await record(intent);
    await qmp.execute("block-commit", {
      "job-id": jobId,
      device: chain.node,
      "top-node": top,
      "base-node": base,
      ...(plan.active ? {} : { "backing-file": plan.base.path }),
      ...(speed ? { speed } : {}),
    });
    return top;
  });
  let bytes = 0;
  let pivotMs: number | null = null;
  let guestPaused = false;
  const deadline = Date.now() + COMMIT_TIMEOUT_MS;
  let uncapped = false;
  // QEMU fills in the job's length as it scans, so the bulk pass is judged by the top file's size.
  const bulkBytes = (await fs.stat(plan.top.path).catch(() => ({ size: 0 }))).size;
  const cancel = async (force: boolean) => {
    await withReattachedQmp(vm.stateDir!, (qmp) => qmp.execute("block-job-cancel", { device: jobId, force })).catch(() => undefined);
    // A ready mirror ends COMPLETED on cancel (without a pivot), others CANCELLED: wait until it is gone.
    for (let i = 0; i < 600; i++) {
      const jobs = await withReattachedQmp(vm.stateDir!, (qmp) => qmp.execute("query-block-jobs")).catch(() => []);
      if (!jobs.some((j) => j.device === jobId)) return;
      await sleepMs(100);
    }
  };
  for (;;) {
    if (ctx.signal.aborted) {
      await cancel(false);
      throw ctx.signal.reason;
    }
    if (Date.now() > deadline) {
      await cancel(true);
      throw new Error(`the commit did not converge in ${COMMIT_TIMEOUT_MS} ms`);
    }
    const { job, running } = await withReattachedQmp(vm.stateDir!, async (qmp) => ({
      job: (await qmp.execute("query-block-jobs")).find((j) => j.device === jobId) ?? null,
      running: (await qmp.execute("query-status")).running,
    }));
    if (!running) guestPaused = true;
    if (!job) break; // a non-active commit ends on its own; the live chain tells below whether it worked
    bytes = job.offset;
    ctx.progress({ unit: "bytes", done: job.offset, total: job.len, message: plan.active ? "mirroring the active layer into the snapshot" : "committing" });
    if (job.error) {
      await cancel(true);
      throw new Error(`the commit failed: ${job.error}`);
    }
    if (job.ready) break;
    if (speed && !uncapped && job.offset >= bulkBytes - CONVERGE_UNCAPPED_BYTES && job.len - job.offset < CONVERGE_UNCAPPED_BYTES) {
      // The cap is for the bulk pass; a capped mirror under steady guest writes may never
      // catch up, so the last stretch to READY runs at full speed.
      await withReattachedQmp(vm.stateDir!, (qmp) => qmp.execute("block-job-set-speed", { device: jobId, speed: 0 })).catch(() => undefined);
      uncapped = true;
    }
    await sleepMs(PROGRESS_POLL_MS, ctx.signal);
  }
  if (plan.active) {
    await faultHold(ctx, SNAPSHOT_HOLD, "delete-ready");
    if (ctx.signal.aborted) {
      await cancel(false);
      throw ctx.signal.reason;
    }
    await withReattachedQmp(vm.stateDir!, async (qmp) => {
      const stops = qmp.listen(["STOP"]);
      const events = qmp.listen(["BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR"], (e) => (e.data as { device?: string }).device === jobId);
      try {
        const before = await qmp.execute("query-status");
        const tp = performance.now();
        await qmp.execute("job-complete", { id: jobId });
        const done = await events.next({ timeoutMs: 60_000 });
        pivotMs = roundMs(performance.now() - tp);
        const after = await qmp.execute("query-status");
        if (!before.running || !after.running || stops.drain().length > 0) guestPaused = true;
        const d = done.data as { error?: string; len?: number };
        if (done.event !== "BLOCK_JOB_COMPLETED" || d.error) throw new Error(`the pivot failed: ${done.event} ${JSON.stringify(d)}`);
        bytes = d.len ?? bytes;
      } finally {
        events.close();
        stops.close();
      }
    });
  }
  await withReattachedQmp(vm.stateDir!, async (qmp) => {
    const after = await liveChainFiles(qmp);
    if (after.files.includes(plan.top.path)) throw new Error(`the layer ${plan.top.path} is still in the live chain after the commit`);
    await dropBlockNode(qmp, topNode);
  });
  ctx.progress({ unit: "bytes", done: bytes, total: bytes, message: "pivoted" });
  return { bytes, pivotMs, guestPaused };
}

function sleepMs(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

async function commitDelete(store: Inventory, vm: Vm, plan: ConsolidationPlan, snapshotId: string): Promise<void> {
  await store.tx(async (s) => {
    const cid = newContentId();
    const owner = plan.baseNewOwner.kind === "vm" ? { ownerKind: "vm" as const, ownerId: vm.id } : { ownerKind: "snapshot" as const, ownerId: plan.baseNewOwner.snapshotId };
    await s.layers.transfer(plan.base.id, { path: plan.base.path, ...owner });
    await s.layers.update(plan.base.id, { contentId: cid });
    if (plan.above) await s.layers.update(plan.above.id, { backingPath: plan.base.path, parentContentId: cid });
    if (plan.active) await s.vms.update(vm.id, { diskLayerId: plan.base.id });
    // The deleted snapshot lets go of the base first: a layer belongs to one snapshot at a time.
    await s.snapshots.delete(snapshotId);
    if (plan.baseNewOwner.kind === "snapshot") await s.snapshots.update(plan.baseNewOwner.snapshotId, { layerId: plan.base.id });
    await s.layers.delete(plan.top.id);
  });
}

/**
 * After a crash during a consolidation: records already committed → the merged layer's file
 * is removed; a live commit still in QEMU is completed (pivoted) when it is ready; then the
 * live chain (or the files' chain, for a stopped VM, after redoing the idempotent offline
 * commit) decides: the merged layer gone from it → records rolled forward; still in it →
 * records kept, the snapshot marked drifted if its layer was written.
 */
export async function recoverSnapshotDelete(ctx: OpContext, intent: unknown): Promise<{ finished: DeleteSnapshotResult | null; detail: string }> {
  const i = intent as DeleteIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the consolidation began" };
  const plan = i.plan;
  const result = (method: DeleteSnapshotResult["method"], depth: number): DeleteSnapshotResult => ({
    id: i.snapshotId,
    vmId: i.vmId,
    method,
    removedPath: plan.top.path,
    basePath: plan.base.path,
    bytes: 0,
    durationMs: 0,
    pivotMs: null,
    guestPaused: false,
    chainDepth: depth,
  });
  const vm = await ctx.store.vms.get(i.vmId);
  if (!(await ctx.store.snapshots.get(i.snapshotId)) || !vm) {
    if (!(await ctx.store.layers.findByPath(plan.top.path))) await fs.rm(plan.top.path, { force: true });
    return { finished: result(i.live ? "live-active-commit" : "offline-commit", 0), detail: "" };
  }
  let merged: boolean;
  if (isRunning(vm)) {
    merged = await withReattachedQmp(vm.stateDir!, async (qmp) => {
      const job = (await qmp.execute("query-block-jobs")).find((j) => j.device === i.jobId);
      if (job) {
        const events = qmp.listen(["BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED"], (e) => (e.data as { device?: string }).device === i.jobId);
        try {
          let ready = job.ready;
          if (!ready) {
            // The cap the dead job set would only drag the recovery out.
            await qmp.execute("block-job-set-speed", { device: i.jobId, speed: 0 }).catch(() => undefined);
            const e = await events.waitFor(() => true, { timeoutMs: 120_000 }).catch(() => null);
            ready = e?.event === "BLOCK_JOB_READY";
          }
          if (ready) {
            await qmp.execute("job-complete", { id: i.jobId });
            await events.waitFor((e) => e.event !== "BLOCK_JOB_READY", { timeoutMs: 60_000 });
          } else if ((await qmp.execute("query-block-jobs")).some((j) => j.device === i.jobId)) {
            await qmp.execute("block-job-cancel", { device: i.jobId, force: true }).catch(() => undefined);
            await events.waitFor(() => true, { timeoutMs: 60_000 }).catch(() => undefined);
          }
        } finally {
          events.close();
        }
      }
      const live = await liveChainFiles(qmp);
      const gone = !live.files.includes(plan.top.path);
      const stale = gone ? await anyNodeOnFile(qmp, plan.top.path) : null;
      if (stale) await dropBlockNode(qmp, stale);
      return gone;
    });
  } else {
    const top = (await ctx.store.layers.get(vm.diskLayerId))!;
    const files = (await imageInfoChain(top.path)).map((x) => x.path);
    if (files.includes(plan.top.path)) {
      if (!i.live || i.started) await offlineCommit(plan, ctx.signal);
    }
    merged = !i.live || Boolean(i.started) || !files.includes(plan.top.path);
  }
  if (merged) {
    await commitDelete(ctx.store, vm, plan, i.snapshotId);
    await fs.rm(plan.top.path, { force: true });
    await syncCatalog(ctx.store, vm.datastoreId);
    return { finished: result(i.live ? (plan.active ? "live-active-commit" : "live-commit") : "offline-commit", (await diskLayersOf(ctx.store, (await ctx.store.vms.get(vm.id))!)).length), detail: "" };
  }
  if (i.started) {
    await ctx.store.tx(async (s) => {
      await s.snapshots.update(i.snapshotId, { state: "drifted" });
      await s.layers.update(plan.base.id, { contentId: newContentId() });
    });
    await syncCatalog(ctx.store, vm.datastoreId);
  }
  return { finished: null, detail: "the engine stopped during the consolidation; the commit was cancelled and the VM runs on its full chain" };
}

