import { Type, type Static } from "@sinclair/typebox";
import type { CreateVmRequest, VmView } from "../../ops";
import type { CloneMode } from "../../model";

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
    home_dir: Type.String(),
    disk_path: Type.String(),
    content_id: NullableString,
    disk_chain: Type.Array(Type.String(), { description: "Paths of the disk's layers, top first." }),
    chain_depth: Type.Integer(),
    provisioned_by: Type.String({ description: "How its disk was made: pool (a pool copy moved in), copy or linked." }),
    clone_mode: NullableString,
    fleet_id: NullableString,
    power_state: Type.String(),
    state: Type.String({ description: "ready, or drifted when its disk vanished outside clonefleet." }),
    created_at: Type.String(),
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
  };
}
