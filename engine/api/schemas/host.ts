import { Type, type Static } from "@sinclair/typebox";
import type { HostView, MigrateVmRequest, MigrateVmResult, MigrationStep } from "../../ops";
import type { MissingAckPolicy } from "../../model";
import { vmToWire, VmWire } from "./vm";

/** A host on the wire, its status judged now. */
export const HostWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    api_url: Type.String({ description: "Where its agent serves the API; other agents call its /internal/ routes there." }),
    pid: Type.Integer({ description: "The engine process of the host." }),
    state_dir: Type.String(),
    vm_state_root: Type.String({ description: "Folder of its VMs' QEMU state folders." }),
    status: Type.String({ enum: ["up", "down"], description: "up while it heartbeats; down once it stopped or stopped answering." }),
    down_reason: Type.Union([Type.String(), Type.Null()]),
    last_heartbeat_at: Type.String(),
    heartbeat_age_ms: Type.Number(),
    vm_count: Type.Integer({ description: "VMs placed on it." }),
    started_at: Type.String(),
    created_at: Type.String(),
  },
  { $id: "Host" },
);
export type HostWire = Static<typeof HostWire>;

/** The wire form of a host. */
export function hostToWire(h: HostView): HostWire {
  return {
    id: h.id,
    name: h.name,
    api_url: h.apiUrl,
    pid: h.pid,
    state_dir: h.stateDir,
    vm_state_root: h.vmStateRoot,
    status: h.status,
    down_reason: h.downReason,
    last_heartbeat_at: h.lastHeartbeatAt,
    heartbeat_age_ms: Math.round(h.heartbeatAgeMs),
    vm_count: h.vmCount,
    started_at: h.startedAt,
    created_at: h.createdAt,
  };
}

const MissingAckWire = Type.String({ enum: ["abort", "proceed"], description: "What a migration does when the guest has not acknowledged by the deadline: abort (the VM stays) or proceed." });

/** The body of `POST /vms/{id}/migrate`. */
export const MigrateVmBody = Type.Object(
  {
    host_id: Type.String({ minLength: 1, description: "The host to move the VM to." }),
    notify_timeout_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: "Seconds the guest gets to acknowledge the notice (0: no notice); the VM's policy when absent." })),
    on_missing_ack: Type.Optional(MissingAckWire),
    max_bandwidth_bytes_per_sec: Type.Optional(Type.Integer({ minimum: 1048576, description: "Caps the migration stream; unlimited when absent." })),
    target_datastore_id: Type.Optional(
      Type.String({ minLength: 1, description: "Moves the VM's disk (its own top layer) to this datastore during the migration; the VM's own datastore or absent: no move." }),
    ),
  },
  { additionalProperties: false },
);
export type MigrateVmBody = Static<typeof MigrateVmBody>;

/** The op request of a migration. */
export function migrateVmFromWire(vmId: string, b: MigrateVmBody): MigrateVmRequest {
  return {
    vmId,
    targetHostId: b.host_id,
    notifyTimeoutSeconds: b.notify_timeout_seconds ?? null,
    onMissingAck: (b.on_missing_ack as MissingAckPolicy | undefined) ?? null,
    maxBandwidthBytesPerSec: b.max_bandwidth_bytes_per_sec ?? null,
    targetDatastoreId: b.target_datastore_id ?? null,
  };
}

/** One recorded step of a migration. */
export const MigrationStepWire = Type.Object({ step: Type.String(), at: Type.String(), detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())) });
export type MigrationStepWire = Static<typeof MigrationStepWire>;

/** The result of a `vm.migrate` job. */
export const MigrateResultWire = Type.Object({
  vm: VmWire,
  migration_id: Type.String(),
  source_host_id: Type.String(),
  target_host_id: Type.String(),
  downtime_ms: Type.Union([Type.Number(), Type.Null()]),
  total_ms: Type.Number(),
  migrate_ms: Type.Union([Type.Number(), Type.Null()]),
  ram_transferred_bytes: Type.Union([Type.Number(), Type.Null()]),
  notice: Type.Union([
    Type.Object({
      id: Type.String(),
      deadline_ms: Type.Number(),
      outcome: Type.String(),
      waited_ms: Type.Number(),
      policy: Type.String(),
      lead_ms: Type.Union([Type.Number(), Type.Null()]),
    }),
    Type.Null(),
  ]),
  steps: Type.Array(MigrationStepWire),
});
export type MigrateResultWire = Static<typeof MigrateResultWire>;

/** The wire form of a migration's steps. */
export function stepsToWire(steps: readonly MigrationStep[]): MigrationStepWire[] {
  return steps.map((s) => (s.detail ? { step: s.step, at: s.at, detail: s.detail } : { step: s.step, at: s.at }));
}

/** The wire form of a migration's result (a result written by recovery has only the VM). */
export function migrateResultToWire(r: MigrateVmResult): MigrateResultWire | unknown {
  if (!r || typeof r.migrationId !== "string") return r && r.vm ? { vm: vmToWire(r.vm), steps: [] } : r;
  return {
    vm: vmToWire(r.vm),
    migration_id: r.migrationId,
    source_host_id: r.sourceHostId,
    target_host_id: r.targetHostId,
    downtime_ms: r.downtimeMs,
    total_ms: r.totalMs,
    migrate_ms: r.migrateMs,
    ram_transferred_bytes: r.ramTransferredBytes,
    notice: r.notice ? { id: r.notice.id, deadline_ms: r.notice.deadlineMs, outcome: r.notice.outcome, waited_ms: r.notice.waitedMs, policy: r.notice.policy, lead_ms: r.notice.leadMs } : null,
    steps: stepsToWire(r.steps),
  };
}

/** Bodies of the agent-to-agent routes under `/internal/migrations` (S6). */
export const IncomingBody = Type.Object({ vm_id: Type.String(), migration_id: Type.String(), target_datastore_id: Type.Optional(Type.String()) }, { additionalProperties: false });
export type IncomingBody = Static<typeof IncomingBody>;
export const TargetDirBody = Type.Object({ vm_id: Type.String(), state_dir: Type.String(), target_datastore_id: Type.Optional(Type.String()) }, { additionalProperties: false });
export type TargetDirBody = Static<typeof TargetDirBody>;
export const CompletionBody = Type.Object(
  { vm_id: Type.String(), ref: Type.String(), outcome: Type.String({ enum: ["succeeded", "failed", "aborted"] }), migration_id: Type.String() },
  { additionalProperties: false },
);
export type CompletionBody = Static<typeof CompletionBody>;
