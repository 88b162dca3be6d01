import { Type, type Static } from "@sinclair/typebox";
import type { CreateVmRequest, ForkVmRequest, VmView } from "../../ops";
import type { CloneMode, MissingAckPolicy } from "../../model";

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** Clone modes on the wire (checked again by the engine with a clearer message). */
export const CloneModeWire = Type.String({
  enum: ["pool", "full", "linked"],
  description: "pool: a ready pool copy moved in when there is one, else a full copy (default); full: always a full copy; linked: a qcow2 overlay on the template's disk (same datastore only).",
});

/** The body of `POST /vms`. */
export const CreateVmBody = Type.Object(
  {
    name: Type.String({ description: "Unique VM name: letters, digits, '.', '_', '-'; at most 63 characters." }),
    template_id: Type.String({ description: "Template to clone." }),
    datastore_id: Type.Optional(Type.String({ description: "Datastore for the VM's disk (default: the template's)." })),
    clone_mode: Type.Optional(CloneModeWire),
    host_id: Type.Optional(NullableString),
    migration_notify_timeout_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: "Seconds its guest gets to acknowledge a migration notice; 0 (default) migrates without notice." })),
    migration_on_missing_ack: Type.Optional(Type.String({ enum: ["abort", "proceed"], description: "What a migration does without the acknowledgement: abort or proceed (default)." })),
  },
  { additionalProperties: false },
);
export type CreateVmBody = Static<typeof CreateVmBody>;

/** Filters of `GET /vms`. */
export const VmListQuery = Type.Object(
  { fleet_id: Type.Optional(Type.String()), datastore_id: Type.Optional(Type.String()), template_id: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type VmListQuery = Static<typeof VmListQuery>;

/** A VM on the wire, with its disk chain and its state measured now. */
export const VmWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    template_id: NullableString,
    datastore_id: Type.String(),
    host_id: Type.String(),
    ha_restart: Type.Boolean({ description: "Restarted on another host when its host is lost (once fenced)." }),
    host_state: Type.String({ description: "up, or down when the VM's host stopped heartbeating: then power_state and pid are the last the inventory knew (drift)." }),
    home_dir: Type.String(),
    disk_path: Type.String(),
    content_id: NullableString,
    disk_chain: Type.Array(Type.String(), { description: "Paths of the disk's layers, top first." }),
    chain_depth: Type.Integer(),
    provisioned_by: Type.String({ description: "How its disk was made: pool (a pool copy moved in), copy or linked." }),
    clone_mode: NullableString,
    fleet_id: NullableString,
    power_state: Type.String({ description: "running (its QEMU process lives, checked now by its host) or stopped." }),
    state: Type.String({ description: "ready, or drifted when its disk vanished outside clonefleet." }),
    created_at: Type.String(),
    disk_layers: Type.Optional(
      Type.Array(
        Type.Object({ path: Type.String(), content_id: NullableString, parent_content_id: NullableString }),
        { description: "The disk's layers, top first, with their content IDs." },
      ),
    ),
    accel: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "Accelerator it runs on (or last ran on): kvm or tcg." })),
    accel_override: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "The VM's own accelerator setting; null uses the host's." })),
    pid: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: "Its QEMU process id while running." })),
    state_dir: Type.Optional(NullableString),
    forked_from: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "The VM it was forked from." })),
    stun_ms: Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: "How long its parent stood still while it was forked, ms." })),
    crashed: Type.Optional(Type.Boolean({ description: "True when its QEMU died without clonefleet stopping it; the next start clears it." })),
    stop_timeout_seconds: Type.Optional(
      Type.Union([Type.Integer(), Type.Null()], { description: "Seconds a stop waits for the guest to power off before QEMU quits; null = the engine's default (30)." }),
    ),
    instant_clone_of: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: "The instant-clone parent it was cloned from (S3)." })),
    migration_notify_timeout_seconds: Type.Optional(Type.Integer({ description: "Seconds its guest gets to acknowledge a migration notice; 0 = no notice." })),
    migration_on_missing_ack: Type.Optional(Type.String({ description: "abort or proceed when the acknowledgement does not come." })),
  },
  { $id: "Vm" },
);
export type VmWire = Static<typeof VmWire>;

/** The op request from a validated wire body, defaults applied. */
export function createVmFromWire(b: CreateVmBody): CreateVmRequest {
  return {
    name: b.name,
    templateId: b.template_id,
    datastoreId: b.datastore_id ?? null,
    cloneMode: (b.clone_mode ?? "pool") as CloneMode,
    hostId: b.host_id ?? null,
    migrationNotifyTimeoutSeconds: b.migration_notify_timeout_seconds ?? null,
    migrationOnMissingAck: (b.migration_on_missing_ack as MissingAckPolicy | undefined) ?? null,
  };
}

/** The wire form of a VM. */
export function vmToWire(v: VmView): VmWire {
  return {
    id: v.id,
    name: v.name,
    template_id: v.templateId,
    datastore_id: v.datastoreId,
    host_id: v.hostId,
    ha_restart: v.haRestart ?? false,
    host_state: v.hostState,
    home_dir: v.homeDir,
    disk_path: v.diskPath,
    content_id: v.contentId,
    disk_chain: v.diskChain,
    chain_depth: v.chainDepth,
    provisioned_by: v.provisionedBy,
    clone_mode: v.cloneMode,
    fleet_id: v.fleetId,
    power_state: v.powerState,
    state: v.state,
    created_at: v.createdAt,
    disk_layers: v.diskLayers.map((l) => ({ path: l.path, content_id: l.contentId, parent_content_id: l.parentContentId })),
    accel: v.accel ?? null,
    accel_override: v.accelOverride ?? null,
    pid: v.pid ?? null,
    state_dir: v.stateDir ?? null,
    forked_from: v.forkedFrom ?? null,
    stun_ms: v.stunMs ?? null,
    stop_timeout_seconds: v.stopTimeoutSeconds ?? null,
    crashed: v.crashed,
    instant_clone_of: v.instantCloneOf ?? null,
    migration_notify_timeout_seconds: v.migrationNotifyTimeoutSeconds,
    migration_on_missing_ack: v.migrationOnMissingAck,
  };
}

/** The body of `POST /vms/{id}/start`. */
export const StartVmBody = Type.Object(
  { accel: Type.Optional(Type.String({ enum: ["auto", "kvm", "tcg"], description: "Sets the VM's own accelerator setting (kept for later starts)." })) },
  { additionalProperties: false },
);
export type StartVmBody = Static<typeof StartVmBody>;

/** The body of `POST /vms/{id}/stop`. */
export const StopVmBody = Type.Object(
  { timeout_seconds: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: "Time the guest gets to power off before QEMU quits (default 30; 0 quits at once)." })) },
  { additionalProperties: false },
);
export type StopVmBody = Static<typeof StopVmBody>;

/** The body of `PATCH /vms/{id}`: settings changed in place (stop timeout, migration policy); absent = unchanged, null = the default. */
export const UpdateVmBody = Type.Object(
  {
    stop_timeout_seconds: Type.Optional(
      Type.Union([Type.Number(), Type.Null()], { description: "Seconds a stop waits for the guest to power off before QEMU quits (0–3600); null = the engine's default (30)." }),
    ),
    migration_notify_timeout_seconds: Type.Optional(Type.Number({ description: "Seconds the guest gets to acknowledge a migration notice (0–3600); 0 migrates without notice." })),
    migration_on_missing_ack: Type.Optional(Type.String({ description: "abort or proceed when the acknowledgement does not come." })),
    ha_restart: Type.Optional(
      Type.Boolean({ description: "Restart the VM on another host when its host is lost, once that host is fenced (its disk free of any QEMU); shared datastores only." }),
    ),
  },
  { additionalProperties: false },
);
export type UpdateVmBody = Static<typeof UpdateVmBody>;

/** The body of `POST /vms/{id}/fork`. */
export const ForkVmBody = Type.Object(
  {
    name: Type.String({ description: "Name of the child VM." }),
    host_id: Type.Optional(NullableString),
    keep_paused: Type.Optional(Type.Boolean({ description: "Leave parent and child paused after the fork (to inspect both at the stun)." })),
  },
  { additionalProperties: false },
);
export type ForkVmBody = Static<typeof ForkVmBody>;

/** The op request of a fork. */
export function forkVmFromWire(parentId: string, b: ForkVmBody): ForkVmRequest {
  return { parentId, name: b.name, hostId: b.host_id ?? null, keepPaused: b.keep_paused === true };
}
