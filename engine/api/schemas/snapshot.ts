import { Type, type Static } from "@sinclair/typebox";
import type { BackupVmRequest, BackupVmResult, CreateSnapshotRequest, DeleteSnapshotRequest, DeleteSnapshotResult, SnapshotView } from "../../ops";

/** The body of `POST /vms/{id}/snapshots`. */
export const CreateSnapshotBody = Type.Object(
  { name: Type.String({ description: "Snapshot name, unique per VM: letters, digits, '.', '_', '-'; at most 63 characters." }) },
  { additionalProperties: false },
);
export type CreateSnapshotBody = Static<typeof CreateSnapshotBody>;

/** Query of `DELETE /snapshots/{id}`. */
export const DeleteSnapshotQuery = Type.Object(
  { speed_bytes_per_sec: Type.Optional(Type.String({ pattern: "^[0-9]{1,15}$", description: "Caps the live commit's speed (bytes/s); unlimited when absent or 0." })) },
  { additionalProperties: false },
);
export type DeleteSnapshotQuery = Static<typeof DeleteSnapshotQuery>;

/** The body of `POST /vms/{id}/backup`. */
export const BackupVmBody = Type.Object(
  {
    target_path: Type.String({ description: "Absolute path of the backup file on the engine host; must not exist and must lie, symlinks resolved, in a datastore's folder (not its clonefleet/ folder) or in a folder the engine was given with --backup-dir." }),
    format: Type.Optional(Type.String({ enum: ["qcow2", "raw"], description: "qcow2 (default) or raw; the chain is flattened either way." })),
    speed_bytes_per_sec: Type.Optional(Type.Integer({ minimum: 0, description: "Caps the consolidation's live commit speed (bytes/s)." })),
  },
  { additionalProperties: false },
);
export type BackupVmBody = Static<typeof BackupVmBody>;

/** A snapshot on the wire. */
export const SnapshotWire = Type.Object({
  id: Type.String(),
  vm_id: Type.String(),
  name: Type.String(),
  frozen_disk_path: Type.String({ description: "The frozen layer: the disk at the snapshot instant, to read with its backing chain (qemu-img -U while the VM runs)." }),
  frozen_chain: Type.Array(Type.String(), { description: "The frozen point-in-time chain, top first." }),
  content_id: Type.Union([Type.String(), Type.Null()]),
  state: Type.String({ description: "ready, or drifted when its file vanished or a cancelled consolidation already wrote into it." }),
  created_at: Type.String(),
});
export type SnapshotWire = Static<typeof SnapshotWire>;

/** Turns a snapshot view into its wire shape. */
export function snapshotToWire(s: SnapshotView): SnapshotWire {
  return {
    id: s.id,
    vm_id: s.vmId,
    name: s.name,
    frozen_disk_path: s.frozenDiskPath,
    frozen_chain: s.frozenChain,
    content_id: s.contentId,
    state: s.state,
    created_at: s.createdAt,
  };
}

/** The op request of `POST /vms/{id}/snapshots`. */
export function createSnapshotFromWire(vmId: string, b: CreateSnapshotBody): CreateSnapshotRequest {
  return { vmId, name: b.name };
}

/** The op request of `DELETE /snapshots/{id}`. */
export function deleteSnapshotFromWire(id: string, q: DeleteSnapshotQuery | undefined): DeleteSnapshotRequest {
  const speed = Number(q?.speed_bytes_per_sec ?? 0);
  return speed > 0 ? { id, speedBytesPerSec: speed } : { id };
}

/** The op request of `POST /vms/{id}/backup`. */
export function backupVmFromWire(vmId: string, b: BackupVmBody): BackupVmRequest {
  const req: BackupVmRequest = { vmId, targetPath: b.target_path, format: (b.format ?? "qcow2") as "qcow2" | "raw" };
  if (b.speed_bytes_per_sec) req.speedBytesPerSec = b.speed_bytes_per_sec;
  return req;
}

/** The result of a `snapshot.delete` job on the wire. */
export function consolidationToWire(r: DeleteSnapshotResult): Record<string, unknown> {
  return {
    id: r.id,
    vm_id: r.vmId,
    method: r.method,
    removed_path: r.removedPath,
    base_path: r.basePath,
    bytes: r.bytes,
    duration_ms: r.durationMs,
    pivot_ms: r.pivotMs,
    guest_paused: r.guestPaused,
    chain_depth: r.chainDepth,
  };
}

/** The result of a `vm.backup` job on the wire. */
export function backupToWire(r: BackupVmResult): Record<string, unknown> {
  return {
    vm_id: r.vmId,
    target_path: r.targetPath,
    format: r.format,
    size_bytes: r.sizeBytes,
    snapshot_ms: r.snapshotMs,
    copy_ms: r.copyMs,
    consolidation: consolidationToWire(r.consolidation),
  };
}
