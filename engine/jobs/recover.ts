import { internal } from "../errors";
import { directContext, reconcileDatastores, reconcileParents, reconcileVmRuntime, type ParentReconcileReport, type ReconcileReport, type VmRuntimeReport } from "../ops";
import type { JobRunner } from "./runner";
import type { Store } from "../store";
import type { Logger } from "pino";

export interface RecoveryReport extends ReconcileReport {
  /** Running VMs found again, VMs whose QEMU died, state folders no VM owned. */
  vmRuntime: VmRuntimeReport;
  /** Instant-clone parents whose files vanished, tmpfs RAM folders no parent owned. */
  parents: ParentReconcileReport;
  finishedJobs: string[];
  rolledBackJobs: string[];
}

/**
 * Runs at engine start, before new work is taken: each job found `running` is finished or
 * rolled back by its handler from its recorded intent, then datastores are reconciled with
 * the inventory. Queued jobs stay queued and run once the runner starts.
 */
export async function recoverAtStart(store: Store, runner: JobRunner, log: Logger): Promise<RecoveryReport> {
  const finishedJobs: string[] = [];
  const rolledBackJobs: string[] = [];
  for (const job of store.listJobs({ states: ["running"] })) {
    const handler = runner.handlerFor(job.kind);
    const ctx = runner.contextFor(job.id, new AbortController().signal);
    try {
      const r = await handler.recover(ctx, job.request, job.intent);
      if (r.outcome === "finished") {
        runner.finish(job.id, { state: "succeeded", result: r.result, targetId: r.targetId ?? null });
        finishedJobs.push(job.id);
      } else {
        runner.finish(job.id, { state: "failed", error: { code: "CF_INTERRUPTED", message: r.detail } });
        rolledBackJobs.push(job.id);
      }
    } catch (err) {
      log.error({ err, jobId: job.id }, "recovering an interrupted job failed");
      const e = internal(`recovering job ${job.id}`, err);
      runner.finish(job.id, { state: "failed", error: { code: e.code, message: e.message } });
      rolledBackJobs.push(job.id);
    }
  }
  const reconcile = await reconcileDatastores(directContext(store, log, undefined, runner.settings));
  const vmRuntime = await reconcileVmRuntime(directContext(store, log, undefined, runner.settings));
  const parents = await reconcileParents(directContext(store, log, undefined, runner.settings));
  const report: RecoveryReport = { ...reconcile, vmRuntime, parents, finishedJobs, rolledBackJobs };
  store.tx((s) => s.setSetting("last_recovery", JSON.stringify(report)));
  return report;
}
