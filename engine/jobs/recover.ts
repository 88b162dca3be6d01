import { reapOrphanedTools } from "../disk";
import { internal } from "../errors";
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  directContext,
  MISSED_HEARTBEATS_FOR_DOWN,
  otherHostsUp,
  reconcileDatastores,
  reconcileParents,
  reconcileVmRuntime,
  type ParentReconcileReport,
  type ReconcileReport,
  type VmRuntimeReport,
} from "../ops";
import { LOCAL_HOST_ID } from "../model";
import { leaseOwnerAlive, type JobRunner } from "./runner";
import type { Inventory } from "../store";
import type { Logger } from "pino";

export interface RecoveryReport extends ReconcileReport {
  /** The host this recovery ran for; only its own jobs, VMs and state folders were touched. */
  hostId: string;
  /** False when other hosts were up: their jobs may own files no record names yet, so no orphan was removed. */
  orphansChecked: boolean;
  /** Running VMs found again, VMs whose QEMU died, state folders no VM owned. */
  vmRuntime: VmRuntimeReport;
  /** Instant-clone parents whose files vanished, tmpfs RAM folders no parent owned. */
  parents: ParentReconcileReport;
  /** qemu-img processes a killed engine left running (pids); killed before any job was recovered. */
  killedTools: number[];
  finishedJobs: string[];
  rolledBackJobs: string[];
}

/**
 * Runs at engine start, before new work is taken: each job found `running` is finished or
 * rolled back by its handler from its recorded intent, then datastores are reconciled with
 * the inventory. Queued jobs stay queued and run once the runner starts.
 */
export async function recoverAtStart(store: Inventory, runner: JobRunner, log: Logger): Promise<RecoveryReport> {
  // First: a qemu-img of the dead engine would go on writing the files recovery removes.
  const killedTools = await reapOrphanedTools();
  if (killedTools.length > 0) log.warn({ pids: killedTools }, "killed qemu-img processes a previous engine left running");
  const finishedJobs: string[] = [];
  const rolledBackJobs: string[] = [];
  // Several engines share the inventory (S6): a job another host runs is that host's to recover.
  for (const job of (await store.jobs.list({ states: ["running"] })).filter((j) => runner.ownsJob(j))) {
    // Another engine process of this host that is alive and renewing its lease still runs it.
    const lease = await store.jobs.lease(job.id);
    if (lease && lease.owner !== runner.owner && Date.parse(lease.expiresAt) > Date.now() && leaseOwnerAlive(lease.owner)) {
      log.warn({ jobId: job.id, kind: job.kind, owner: lease.owner }, "a running job is leased by another live engine of this host; left to it");
      continue;
    }
    const handler = runner.handlerFor(job.kind);
    const ctx = runner.contextFor(job.id, new AbortController().signal, job.progress);
    // The engine listens only once recovery is done: these lines show which job a slow start is in.
    log.info({ jobId: job.id, kind: job.kind, step: job.progress.message }, "recovering an interrupted job");
    try {
      const r = await handler.recover(ctx, job.request, job.intent);
      if (r.outcome === "finished") {
        await runner.finish(job.id, { state: "succeeded", result: r.result, targetId: r.targetId ?? null });
        finishedJobs.push(job.id);
      } else {
        await runner.finish(job.id, { state: "failed", error: { code: "CF_INTERRUPTED", message: r.detail } });
        rolledBackJobs.push(job.id);
      }
    } catch (err) {
      log.error({ err, jobId: job.id }, "recovering an interrupted job failed");
      const e = internal(`recovering job ${job.id}`, err);
      await runner.finish(job.id, { state: "failed", error: { code: e.code, message: e.message } });
      rolledBackJobs.push(job.id);
    }
  }
  const hostId = runner.hostId;
  // Another live host's jobs make files under temporary names before their records exist; only
  // an engine alone on the inventory may take an unowned file for an orphan.
  const orphansChecked = !(await otherHostsUp(store, hostId, runner.settings.hostDownAfterMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_FOR_DOWN));
  const reconcile = await reconcileDatastores(directContext(store, log, undefined, runner.settings), { removeOrphans: orphansChecked });
  const vmRuntime = await reconcileVmRuntime(directContext(store, log, undefined, runner.settings));
  const parents = await reconcileParents(directContext(store, log, undefined, runner.settings));
  const report: RecoveryReport = { ...reconcile, hostId, orphansChecked, vmRuntime, parents, killedTools, finishedJobs, rolledBackJobs };
  await store.tx(async (s) => await s.settings.set(recoveryReportKey(hostId), JSON.stringify(report)));
  return report;
}

/** The setting holding a host's last recovery report (`last_recovery` for `local`, as before hosts). */
export function recoveryReportKey(hostId: string): string {
  return hostId === LOCAL_HOST_ID ? "last_recovery" : `last_recovery:${hostId}`;
}
