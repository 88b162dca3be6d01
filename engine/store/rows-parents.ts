/**
 * Row and row mappers of the instant-clone parents table (S3) for the SQLite store; kept apart
 * from sqlite.ts so this capability's columns live in one place.
 */
import type { InstantCloneParent, ParentRamLocation, RecordState, VmAccel, VmMachine } from "../model";

/** An `instant_clone_parents` row. */
export interface ParentRow {
  id: string;
  name: string;
  source_vm_id: string;
  datastore_id: string;
  disk_layer_id: string;
  ram_path: string;
  ram_location: string;
  device_state_path: string;
  memory_bytes: number;
  machine: string;
  machine_type: string;
  accel: string;
  qemu_version: string;
  state: string;
  warm_count: number;
  created_at: string;
}

/** The row of a parent. */
export function parentRow(p: InstantCloneParent): ParentRow {
  return {
    id: p.id,
    name: p.name,
    source_vm_id: p.sourceVmId,
    datastore_id: p.datastoreId,
    disk_layer_id: p.diskLayerId,
    ram_path: p.ramPath,
    ram_location: p.ramLocation,
    device_state_path: p.deviceStatePath,
    memory_bytes: p.memoryBytes,
    machine: JSON.stringify(p.machine),
    machine_type: p.machineType,
    accel: p.accel,
    qemu_version: p.qemuVersion,
    state: p.state,
    warm_count: p.warmCount,
    created_at: p.createdAt,
  };
}

/** The parent of a row. */
export function toParent(r: ParentRow): InstantCloneParent {
  return {
    id: r.id,
    name: r.name,
    sourceVmId: r.source_vm_id,
    datastoreId: r.datastore_id,
    diskLayerId: r.disk_layer_id,
    ramPath: r.ram_path,
    ramLocation: r.ram_location as ParentRamLocation,
    deviceStatePath: r.device_state_path,
    memoryBytes: r.memory_bytes,
    machine: JSON.parse(r.machine) as VmMachine,
    machineType: r.machine_type,
    accel: r.accel as VmAccel,
    qemuVersion: r.qemu_version,
    state: r.state as RecordState,
    warmCount: r.warm_count,
    createdAt: r.created_at,
  };
}
