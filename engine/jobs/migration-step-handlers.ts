/**
 * The target host's steps of a live migration (S6), each a job on the target host run at the
 * source agent's request (through PeerHost and the `/internal/migrations/…` routes): start the
 * QEMU the stream goes into, run the guest once it arrived, remove the QEMU of a migration that
 * failed, pass the guest its completion line.
 */
import {
  ABORT_MIGRATION_KIND,
  abortIncoming,
  ACTIVATE_MIGRATION_KIND,
  activateIncoming,
  admitIncoming,
  COMPLETE_MIGRATION_KIND,
  INCOMING_MIGRATION_KIND,
  prepareIncoming,
  recoverAbort,
  recoverActivate,
  recoverCompletion,
  recoverIncoming,
  sendCompletion,
} from "../ops";
import type { CompletionRequest, IncomingReady, IncomingRequest, TargetDirRequest } from "../peer";
import type { JobHandler } from "./handler";

/** `migration.incoming`: a QEMU waiting for the stream of a VM another host migrates here. */
export const incomingMigrationHandler: JobHandler<IncomingRequest, IncomingReady> = {
  kind: INCOMING_MIGRATION_KIND,
  immediate: true,
  admit: (store, req) => admitIncoming(store, req),
  run: async (ctx, req) => ({ result: await prepareIncoming(ctx, req), targetId: req.vmId }),
  recover: async (ctx, _req, intent) => ({ outcome: "rolled-back", detail: (await recoverIncoming(ctx, intent)).detail }),
};

/** `migration.activate`: the target QEMU runs the guest once the stream completed. */
export const activateMigrationHandler: JobHandler<TargetDirRequest, { pid: number; status: string }> = {
  kind: ACTIVATE_MIGRATION_KIND,
  immediate: true,
  run: async (ctx, req) => ({ result: await activateIncoming(ctx, req), targetId: req.vmId }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverActivate(ctx, intent);
    return finished ? { outcome: "finished", result: finished, targetId: req.vmId } : { outcome: "rolled-back", detail };
  },
};

/** `migration.abort`: the target QEMU of a migration that failed stopped, its folder removed. */
export const abortMigrationHandler: JobHandler<TargetDirRequest, { ok: true }> = {
  kind: ABORT_MIGRATION_KIND,
  immediate: true,
  run: async (ctx, req) => ({ result: await abortIncoming(ctx, req), targetId: req.vmId }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverAbort(ctx, intent);
    return finished ? { outcome: "finished", result: finished, targetId: req.vmId } : { outcome: "rolled-back", detail };
  },
};

/** `migration.complete`: the guest of a migrated VM told how its migration ended. */
export const completeMigrationHandler: JobHandler<CompletionRequest, { ok: true }> = {
  kind: COMPLETE_MIGRATION_KIND,
  immediate: true,
  run: async (ctx, req) => ({ result: await sendCompletion(ctx, req), targetId: req.vmId }),
  recover: async (_ctx, _req, intent) => ({ outcome: "rolled-back", detail: recoverCompletion(intent).detail }),
};
