import { Type, type Static } from "@sinclair/typebox";
import type { ApplyFleetResult, FleetSpec, FleetView } from "../../ops";
import type { CloneMode, VmPowerState } from "../../model";
import { CloneModeWire } from "./vm";

const NullableString = Type.Union([Type.String(), Type.Null()]);

/** The body of `POST /fleets` and `PUT /fleets/{id}`: the whole declaration. */
export const FleetBody = Type.Object(
  {
    template_id: Type.String({ description: "Template the members are cloned from; cannot change." }),
    size: Type.Integer({ description: "Members wanted, 0 to 1024; growing adds members, shrinking removes the newest." }),
    datastore_ids: Type.Array(Type.String(), { description: "Datastores new members are spread over (weighing ready pool copies and free space)." }),
    name_prefix: Type.Optional(Type.String({ description: "Members are named <prefix>-<n> (default: the template's name); cannot change." })),
    clone_mode: Type.Optional(CloneModeWire),
    power_state: Type.Optional(Type.String({ enum: ["running", "stopped"], description: "running powers every member on after the apply; stopped (default) leaves members as they are." })),
    host_id: Type.Optional(NullableString),
    host_ids: Type.Optional(
      Type.Union([Type.Array(Type.String()), Type.Null()], {
        description: "Hosts members may live on, spread by members and running VMs; left out: every host that is up at an apply. host_id is the same with one host.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type FleetBody = Static<typeof FleetBody>;

/** Filters of `GET /fleets`. */
export const FleetListQuery = Type.Object(
  { template_id: Type.Optional(Type.String()), name_prefix: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type FleetListQuery = Static<typeof FleetListQuery>;

const FleetMemberWire = Type.Object({
  id: Type.String(),
  name: Type.String(),
  datastore_id: Type.String(),
  host_id: Type.String({ description: "The host it lives on." }),
  disk_path: Type.String(),
  home_dir: Type.String(),
  provisioned_by: Type.String({ description: "pool (a pool copy moved in), copy or linked." }),
  state: Type.String({ description: "ready, or drifted when its disk vanished outside clonefleet (the next apply makes it again)." }),
  created_at: Type.String(),
});

/** A fleet on the wire, with its members (`vms`) and drift. */
export const FleetWire = Type.Object(
  {
    id: Type.String(),
    name_prefix: Type.String(),
    template_id: Type.String(),
    size: Type.Integer(),
    datastore_ids: Type.Array(Type.String()),
    clone_mode: Type.String(),
    power_state: Type.String(),
    host_id: NullableString,
    host_ids: Type.Union([Type.Array(Type.String()), Type.Null()], { description: "The hosts its members may live on; null: every host that is up." }),
    state: Type.String({ description: "ready (size members, all whole), applying, or drifted." }),
    members_ready: Type.Integer(),
    members_running: Type.Optional(Type.Integer({ description: "Members whose QEMU process lives now." })),
    vms: Type.Array(FleetMemberWire),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { $id: "Fleet" },
);
export type FleetWire = Static<typeof FleetWire>;

/** The result of a `fleet.apply` job: the fleet after it and what changed. */
export const FleetApplyWire = Type.Object({
  fleet: FleetWire,
  added: Type.Array(
    Type.Object({ id: Type.String(), name: Type.String(), datastore_id: Type.String(), host_id: Type.Optional(Type.String()), disk_path: Type.String(), provisioned_by: Type.String() }),
  ),
  removed: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
  replaced: Type.Array(Type.Object({ id: Type.String(), name: Type.String() })),
  provision_ms: Type.Number(),
  elapsed_ms: Type.Number(),
});
export type FleetApplyWire = Static<typeof FleetApplyWire>;

/** The op declaration from a validated wire body, defaults applied. */
export function fleetSpecFromWire(b: FleetBody): FleetSpec {
  return {
    templateId: b.template_id,
    size: b.size,
    datastoreIds: b.datastore_ids,
    namePrefix: b.name_prefix ?? null,
    cloneMode: (b.clone_mode ?? "pool") as CloneMode,
    powerState: (b.power_state ?? "stopped") as VmPowerState,
    hostId: b.host_id ?? null,
    hostIds: b.host_ids ?? null,
  };
}

/** The wire form of a fleet. */
export function fleetToWire(f: FleetView): FleetWire {
  return {
    id: f.id,
    name_prefix: f.namePrefix,
    template_id: f.templateId,
    size: f.size,
    datastore_ids: f.datastoreIds,
    clone_mode: f.cloneMode,
    power_state: f.powerState,
    host_id: f.hostId,
    host_ids: f.hostIds,
    state: f.state,
    members_ready: f.membersReady,
    members_running: f.membersRunning,
    vms: f.members.map((m) => ({
      id: m.id,
      name: m.name,
      datastore_id: m.datastoreId,
      host_id: m.hostId,
      disk_path: m.diskPath,
      home_dir: m.homeDir,
      provisioned_by: m.provisionedBy,
      state: m.state,
      created_at: m.createdAt,
    })),
    created_at: f.createdAt,
    updated_at: f.updatedAt,
  };
}

/** The wire form of an apply's result. */
export function fleetApplyToWire(r: ApplyFleetResult): FleetApplyWire {
  return {
    fleet: fleetToWire(r.fleet),
    added: r.added.map((a) => ({ id: a.id, name: a.name, datastore_id: a.datastoreId, ...(a.hostId ? { host_id: a.hostId } : {}), disk_path: a.diskPath, provisioned_by: a.provisionedBy })),
    removed: r.removed,
    replaced: r.replaced,
    provision_ms: r.provisionMs,
    elapsed_ms: r.elapsedMs,
  };
}
