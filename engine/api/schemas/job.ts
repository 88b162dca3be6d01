import { Type, type Static } from "@sinclair/typebox";
import { JOB_KINDS, LOCAL_HOST_ID, type Job } from "../../model";
import type { MigrateVmResult, MigrationStep } from "../../ops";
import { migrateResultToWire, stepsToWire } from "./host";
import type { ReplicaView, TemplateView } from "../../ops";
import { replicaToWire } from "./replica";
import { templateToWire } from "./template";
import type { ApplyFleetResult, ForkVmResult, VmView } from "../../ops";
import { fleetApplyToWire } from "./fleet";
import { vmToWire } from "./vm";
import { backupToWire, consolidationToWire, snapshotToWire } from "./snapshot";
import type { BackupVmResult, DeleteSnapshotResult, SnapshotView } from "../../ops";
import type { InstantCloneResult, ParentView } from "../../ops";
import { instantCloneResultToWire, parentToWire } from "./parent";
import type { CatalogRescanReport, RegisterDiskResult } from "../../ops";
import { registerDiskToWire, rescanToWire } from "./catalog";

export const JobWire = Type.Object(
  {
    id: Type.String(),
    kind: Type.String(),
    state: Type.Union(["queued", "running", "succeeded", "failed", "cancelled"].map((s) => Type.Literal(s))),
    progress: Type.Object({
      unit: Type.String(),
      done: Type.Number(),
      total: Type.Number(),
      message: Type.Optional(Type.String()),
    }),
    idempotency_key: Type.Union([Type.String(), Type.Null()]),
    target_id: Type.Union([Type.String(), Type.Null()]),
    result: Type.Unknown(),
    error: Type.Union([
      Type.Object({ code: Type.String(), message: Type.String(), field: Type.Optional(Type.String()) }),
      Type.Null(),
    ]),
    cancel_requested: Type.Boolean(),
    created_at: Type.String(),
    started_at: Type.Union([Type.String(), Type.Null()]),
    finished_at: Type.Union([Type.String(), Type.Null()]),
    host_id: Type.Optional(Type.String({ description: "The host whose agent runs the job." })),
    steps: Type.Optional(Type.Array(Type.Object({ step: Type.String(), at: Type.String(), detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }), { description: "A migration's steps with their times, also when it failed." })),
  },
  { $id: "Job" },
);
export type JobWire = Static<typeof JobWire>;

export const JobListQuery = Type.Object(
  {
    state: Type.Optional(Type.Union(["queued", "running", "succeeded", "failed", "cancelled"].map((s) => Type.Literal(s)))),
    limit: Type.Optional(Type.String({ pattern: "^[0-9]{1,4}$" })),
  },
  { additionalProperties: false },
);
export type JobListQuery = Static<typeof JobListQuery>;

export const JobWaitQuery = Type.Object(
  { timeout_seconds: Type.Optional(Type.String({ pattern: "^[0-9]{1,3}$", description: "0 to 300 seconds (default 30)." })) },
  { additionalProperties: false },
);
export type JobWaitQuery = Static<typeof JobWaitQuery>;

/** The wire form of a job; results of known kinds are converted to their wire shape. */
export function jobToWire(j: Job): JobWire {
  return {
    id: j.id,
    kind: j.kind,
    state: j.state,
    progress: j.progress,
    idempotency_key: j.idempotencyKey,
    target_id: j.targetId,
    result: j.result === null ? null : resultToWire(j.kind, j.result),
    error: j.error,
    cancel_requested: j.cancelRequested,
    created_at: j.createdAt,
    started_at: j.startedAt,
    finished_at: j.finishedAt,
    host_id: j.hostId ?? LOCAL_HOST_ID,
    ...(j.kind === JOB_KINDS.migrateVm ? { steps: stepsToWire((j.intent as { steps?: MigrationStep[] } | null)?.steps ?? []) } : {}),
  };
}

function resultToWire(kind: string, result: unknown): unknown {
  switch (kind) {
    case JOB_KINDS.importTemplate:
      return templateToWire(result as TemplateView);
    case JOB_KINDS.createReplica:
    case JOB_KINDS.repairReplica:
      return replicaToWire(result as ReplicaView);
    case JOB_KINDS.applyFleet:
      return fleetApplyToWire(result as ApplyFleetResult);
    case JOB_KINDS.createVm:
    case JOB_KINDS.startVm:
    case JOB_KINDS.stopVm:
      return vmToWire(result as VmView);
    case JOB_KINDS.forkVm: {
      const r = result as ForkVmResult;
      // A result recorded before the wire fields existed (or by recovery) may lack the view parts.
      if (!r || !Array.isArray(r.diskChain)) return result;
      return { ...vmToWire(r), parent_stun_ms: r.parentStunMs, child_ready_ms: r.childReadyMs, layout: r.layout };
    }
    case JOB_KINDS.createSnapshot:
      return snapshotToWire(result as SnapshotView);
    case JOB_KINDS.deleteSnapshot:
      return consolidationToWire(result as DeleteSnapshotResult);
    case JOB_KINDS.backupVm:
      return backupToWire(result as BackupVmResult);
    case JOB_KINDS.createParent:
    case JOB_KINDS.updateParent:
      return parentToWire(result as ParentView);
    case JOB_KINDS.instantClone:
      return instantCloneResultToWire(result as InstantCloneResult);
    case JOB_KINDS.deleteParent: {
      const r = result as { id: string; keptLayer: string | null };
      return { id: r.id, kept_layer: r.keptLayer };
    }
    case JOB_KINDS.migrateVm:
      return migrateResultToWire(result as MigrateVmResult);
    case JOB_KINDS.registerDisk:
      return registerDiskToWire(result as RegisterDiskResult);
    case JOB_KINDS.rescanCatalog:
      return rescanToWire(result as CatalogRescanReport);
    default:
      return result;
  }
}
