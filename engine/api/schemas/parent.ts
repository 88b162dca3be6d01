import { Type, type Static } from "@sinclair/typebox";
import type { CreateParentRequest, DeleteParentRequest, InstantCloneRequest, InstantCloneResult, ParentView, UpdateParentRequest } from "../../ops";
import type { ParentRamLocation } from "../../model";
import { vmToWire, VmWire } from "./vm";

const WARM_COUNT_DOC =
  "Children each engine host keeps pre-started for this parent (0 to 64, default 0): QEMU already up with its own overlay and identity and the parent's state loaded, paused, so a clone request only resumes it. Each costs an idle QEMU process's memory (no guest RAM until taken).";

/** The body of `PATCH /parents/{id}`. */
export const UpdateParentBody = Type.Object({ warm_count: Type.Optional(Type.Integer({ description: WARM_COUNT_DOC })) }, { additionalProperties: false });
export type UpdateParentBody = Static<typeof UpdateParentBody>;

/** The body of `POST /parents`. */
export const CreateParentBody = Type.Object(
  {
    source_vm_id: Type.String({ description: "The running VM to capture. It is paused, captured and stopped; it can be started again (a cold boot) or deleted." }),
    name: Type.String({ description: "Unique parent name: letters, digits, '.', '_', '-'; at most 63 characters." }),
    ram_location: Type.Optional(
      Type.String({ enum: ["tmpfs", "datastore"], description: "Where the RAM file goes: tmpfs (this host's memory, fastest, lost at reboot) or datastore (beside the disk, survives reboots, seen by other hosts). Default: the engine's setting." }),
    ),
    warm_count: Type.Optional(Type.Integer({ description: WARM_COUNT_DOC })),
  },
  { additionalProperties: false },
);
export type CreateParentBody = Static<typeof CreateParentBody>;

/** The body of `POST /parents/{id}/clones`. */
export const InstantCloneBody = Type.Object(
  {
    count: Type.Optional(Type.Integer({ description: "How many children to start (1 to 256); with names, their number (may be left out)." })),
    name_prefix: Type.Optional(Type.String({ description: "Children are named <name_prefix>-1 … <name_prefix>-<count>; none of those names may be in use." })),
    names: Type.Optional(Type.Array(Type.String(), { description: "Exact names of the children, instead of count and name_prefix (e.g. one declared VM)." })),
    concurrency: Type.Optional(Type.Integer({ description: "Children started at the same time (1 to 64; default the engine's setting, 8)." })),
    start_paused: Type.Optional(Type.Boolean({ description: "Leave the children paused at the captured instant (a `vm start` does not resume them; use QMP cont or stop/start)." })),
  },
  { additionalProperties: false },
);
export type InstantCloneBody = Static<typeof InstantCloneBody>;

/** Query of `DELETE /parents/{id}`. */
export const DeleteParentQuery = Type.Object(
  { wait: Type.Optional(Type.String({ enum: ["true", "false"], description: "true: answer 202 with a job that deletes the parent once its children are gone; otherwise a parent with children is refused (409)." })) },
  { additionalProperties: false },
);
export type DeleteParentQuery = Static<typeof DeleteParentQuery>;

/** An instant-clone parent on the wire. */
export const ParentWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    source_vm_id: Type.String({ description: "The VM it was captured from (it may since have been deleted)." }),
    datastore_id: Type.String(),
    disk_path: Type.String({ description: "The frozen top layer children get their overlays on." }),
    disk_chain: Type.Array(Type.String(), { description: "The frozen chain, top first." }),
    ram_path: Type.String({ description: "The RAM file children map copy-on-write (share=off)." }),
    ram_location: Type.String({ description: "tmpfs or datastore." }),
    ram_file_allocated_bytes: Type.Union([Type.Integer(), Type.Null()], { description: "Bytes the RAM file holds on its filesystem (pages the guest had touched)." }),
    device_state_path: Type.String({ description: "Device state saved with x-ignore-shared (RAM left out)." }),
    memory_bytes: Type.Integer({ description: "Guest RAM size." }),
    memory_mb: Type.Integer(),
    vcpus: Type.Integer(),
    machine_type: Type.String(),
    accel: Type.String({ description: "Accelerator the state was saved under; children run on the same." }),
    qemu_version: Type.String(),
    children: Type.Array(Type.String(), { description: "Ids of its instant clones." }),
    state: Type.String({ description: "ready, or drifted when its RAM file, device state or frozen layer vanished." }),
    warm_count: Type.Integer({ description: "Children each engine host keeps pre-started for it." }),
    warm_ready: Type.Integer({ description: "Pre-started children ready now on the host that answered." }),
    warm_error: Type.Union([Type.String(), Type.Null()], { description: "Why the host that answered could not pre-start children lately (it retries), or null." }),
    created_at: Type.String(),
  },
  { $id: "InstantCloneParent" },
);
export type ParentWire = Static<typeof ParentWire>;

/** One child of an instant-clone request on the wire: the VM plus its start times. */
export const InstantCloneChildWire = Type.Intersect([
  Type.Omit(VmWire, []),
  Type.Object({
    ready_ms: Type.Number({ description: "From the start of the request's work to this child running, ms." }),
    start_ms: Type.Number({ description: "From this child's QEMU spawn to it running, ms." }),
  }),
]);

/** The result of a `vm.instant-clone` job on the wire. */
export const InstantCloneResultWire = Type.Object({
  parent_id: Type.String(),
  children: Type.Array(InstantCloneChildWire),
  total_ms: Type.Number({ description: "From the start of the work to the last child running, ms." }),
  concurrency: Type.Integer(),
});
export type InstantCloneResultWire = Static<typeof InstantCloneResultWire>;

/** What the answering host's pre-start loop says of a parent (none when it keeps no children). */
export interface WarmStatus {
  ready: number;
  error: string | null;
}

/** Turns a parent view into its wire shape. */
export function parentToWire(p: ParentView, warm: WarmStatus = { ready: 0, error: null }): ParentWire {
  return {
    id: p.id,
    name: p.name,
    source_vm_id: p.sourceVmId,
    datastore_id: p.datastoreId,
    disk_path: p.diskPath,
    disk_chain: p.diskChain,
    ram_path: p.ramPath,
    ram_location: p.ramLocation,
    ram_file_allocated_bytes: p.ramFileAllocatedBytes,
    device_state_path: p.deviceStatePath,
    memory_bytes: p.memoryBytes,
    memory_mb: p.machine.memoryMb,
    vcpus: p.machine.vcpus,
    machine_type: p.machineType,
    accel: p.accel,
    qemu_version: p.qemuVersion,
    children: p.childIds,
    state: p.state,
    warm_count: p.warmCount,
    warm_ready: warm.ready,
    warm_error: warm.error,
    created_at: p.createdAt,
  };
}

/** Turns an instant-clone result into its wire shape. */
export function instantCloneResultToWire(r: InstantCloneResult): InstantCloneResultWire {
  return {
    parent_id: r.parentId,
    children: r.children.map((c) => ({ ...vmToWire(c), ready_ms: c.readyMs, start_ms: c.startMs })),
    total_ms: r.totalMs,
    concurrency: r.concurrency,
  };
}

/** The op request of `POST /parents`. */
export function createParentFromWire(b: CreateParentBody): CreateParentRequest {
  return { sourceVmId: b.source_vm_id, name: b.name, ramLocation: (b.ram_location as ParentRamLocation | undefined) ?? null, warmCount: b.warm_count };
}

/** The op request of `PATCH /parents/{id}`. */
export function updateParentFromWire(id: string, b: UpdateParentBody): UpdateParentRequest {
  return { id, warmCount: b.warm_count };
}

/** The op request of `POST /parents/{id}/clones`. */
export function instantCloneFromWire(parentId: string, b: InstantCloneBody): InstantCloneRequest {
  if (b.names !== undefined) {
    return { parentId, count: b.count ?? b.names.length, namePrefix: b.name_prefix ?? "", names: b.names, concurrency: b.concurrency ?? null, startPaused: b.start_paused === true };
  }
  // A missing count or prefix reaches the engine's checks, which name the field.
  return { parentId, count: b.count as number, namePrefix: b.name_prefix ?? "", concurrency: b.concurrency ?? null, startPaused: b.start_paused === true };
}

/** The op request of `DELETE /parents/{id}`. */
export function deleteParentFromWire(id: string, q: DeleteParentQuery | undefined): DeleteParentRequest {
  return { id, wait: q?.wait === "true" };
}
