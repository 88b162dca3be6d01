/**
 * Rows, patch specs and row mappers of the S1 tables (pools, pool copies, fleets, VMs) for the
 * SQLite store; kept apart from sqlite.ts so each capability's columns live in one place.
 */
import type { CloneMode, MissingAckPolicy, Fleet, Pool, PoolCopy, PoolFillError, ProvisionedBy, RecordState, Vm, VmAccel, VmMachine, VmPowerState } from "../model";

/** A `pools` row. */
export interface PoolRow {
  id: string;
  template_id: string;
  datastore_id: string;
  size: number;
  last_error: string | null;
  failures: number;
  retry_at: string | null;
  created_at: string;
}

/** A `pool_copies` row. */
export interface PoolCopyRow {
  layer_id: string;
  pool_id: string;
  template_content_id: string;
  created_at: string;
}

/** A `fleets` row. */
export interface FleetRow {
  id: string;
  name_prefix: string;
  template_id: string;
  size: number;
  datastore_ids: string;
  clone_mode: string;
  power_state: string;
  created_at: string;
  updated_at: string;
  host_ids: string | null;
}

/** A `vms` row. */
export interface VmRow {
  id: string;
  name: string;
  template_id: string | null;
  datastore_id: string;
  disk_layer_id: string;
  home_dir: string;
  provisioned_by: string;
  clone_mode: string | null;
  fleet_id: string | null;
  power_state: string;
  state: string;
  created_at: string;
  accel: string | null;
  accel_override: string | null;
  pid: number | null;
  state_dir: string | null;
  forked_from: string | null;
  stun_ms: number | null;
  crashed: number;
  machine: string | null;
  stop_timeout_seconds: number | null;
  instant_clone_of: string | null;
  host_id: string;
  migration_notify_timeout_seconds: number;
  migration_on_missing_ack: string;
  ha_restart: number;
}

type PatchSpec = Record<string, [string, (v: unknown) => unknown]>;
const identity = (v: unknown): unknown => v;
const jsonOrNull = (v: unknown): unknown => (v === null ? null : JSON.stringify(v));

/** Patchable pool fields, camelCase → column and encoder. */
export const POOL_PATCH: PatchSpec = {
  size: ["size", identity],
  lastError: ["last_error", jsonOrNull],
  failures: ["failures", identity],
  retryAt: ["retry_at", identity],
};

/** Patchable fleet fields. */
export const FLEET_PATCH: PatchSpec = {
  size: ["size", identity],
  datastoreIds: ["datastore_ids", (v) => JSON.stringify(v)],
  cloneMode: ["clone_mode", identity],
  powerState: ["power_state", identity],
  updatedAt: ["updated_at", identity],
  hostIds: ["host_ids", (v) => (v === null ? null : JSON.stringify(v))],
};

/** Patchable VM fields. */
export const VM_PATCH: PatchSpec = {
  state: ["state", identity],
  powerState: ["power_state", identity],
  diskLayerId: ["disk_layer_id", identity],
  accel: ["accel", identity],
  accelOverride: ["accel_override", identity],
  pid: ["pid", identity],
  stateDir: ["state_dir", identity],
  stunMs: ["stun_ms", identity],
  crashed: ["crashed", (v: unknown) => (v ? 1 : 0)],
  machine: ["machine", jsonOrNull],
  stopTimeoutSeconds: ["stop_timeout_seconds", identity],
  hostId: ["host_id", identity],
  migrationNotifyTimeoutSeconds: ["migration_notify_timeout_seconds", identity],
  migrationOnMissingAck: ["migration_on_missing_ack", identity],
  haRestart: ["ha_restart", (v: unknown) => (v ? 1 : 0)],
  datastoreId: ["datastore_id", identity],
  homeDir: ["home_dir", identity],
};

/** The row of a pool. */
export function poolRow(p: Pool): PoolRow {
  return {
    id: p.id,
    template_id: p.templateId,
    datastore_id: p.datastoreId,
    size: p.size,
    last_error: p.lastError === null ? null : JSON.stringify(p.lastError),
    failures: p.failures,
    retry_at: p.retryAt,
    created_at: p.createdAt,
  };
}

/** The pool of a row. */
export function toPool(r: PoolRow): Pool {
  return {
    id: r.id,
    templateId: r.template_id,
    datastoreId: r.datastore_id,
    size: r.size,
    lastError: r.last_error === null ? null : (JSON.parse(r.last_error) as PoolFillError),
    failures: r.failures,
    retryAt: r.retry_at,
    createdAt: r.created_at,
  };
}

/** The row of a pool copy. */
export function poolCopyRow(c: PoolCopy): PoolCopyRow {
  return { layer_id: c.layerId, pool_id: c.poolId, template_content_id: c.templateContentId, created_at: c.createdAt };
}

/** The pool copy of a row. */
export function toPoolCopy(r: PoolCopyRow): PoolCopy {
  return { layerId: r.layer_id, poolId: r.pool_id, templateContentId: r.template_content_id, createdAt: r.created_at };
}

/** The row of a fleet. */
export function fleetRow(f: Fleet): FleetRow {
  return {
    id: f.id,
    name_prefix: f.namePrefix,
    template_id: f.templateId,
    size: f.size,
    datastore_ids: JSON.stringify(f.datastoreIds),
    clone_mode: f.cloneMode,
    power_state: f.powerState,
    created_at: f.createdAt,
    updated_at: f.updatedAt,
    host_ids: f.hostIds === null ? null : JSON.stringify(f.hostIds),
  };
}

/** The fleet of a row. */
export function toFleet(r: FleetRow): Fleet {
  return {
    id: r.id,
    namePrefix: r.name_prefix,
    templateId: r.template_id,
    size: r.size,
    datastoreIds: JSON.parse(r.datastore_ids) as string[],
    cloneMode: r.clone_mode as CloneMode,
    powerState: r.power_state as VmPowerState,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    hostIds: r.host_ids === null ? null : (JSON.parse(r.host_ids) as string[]),
  };
}

/** The row of a VM. */
export function vmRow(v: Vm): VmRow {
  return {
    id: v.id,
    name: v.name,
    template_id: v.templateId,
    datastore_id: v.datastoreId,
    disk_layer_id: v.diskLayerId,
    home_dir: v.homeDir,
    provisioned_by: v.provisionedBy,
    clone_mode: v.cloneMode,
    fleet_id: v.fleetId,
    power_state: v.powerState,
    state: v.state,
    created_at: v.createdAt,
    accel: v.accel ?? null,
    accel_override: v.accelOverride ?? null,
    pid: v.pid ?? null,
    state_dir: v.stateDir ?? null,
    forked_from: v.forkedFrom ?? null,
    stun_ms: v.stunMs ?? null,
    crashed: v.crashed ? 1 : 0,
    machine: v.machine ? JSON.stringify(v.machine) : null,
    stop_timeout_seconds: v.stopTimeoutSeconds ?? null,
    instant_clone_of: v.instantCloneOf ?? null,
    host_id: v.hostId ?? "local",
    migration_notify_timeout_seconds: v.migrationNotifyTimeoutSeconds ?? 0,
    migration_on_missing_ack: v.migrationOnMissingAck ?? "proceed",
    ha_restart: v.haRestart ? 1 : 0,
  };
}

/** The VM of a row. */
export function toVm(r: VmRow): Vm {
  return {
    id: r.id,
    name: r.name,
    templateId: r.template_id,
    datastoreId: r.datastore_id,
    diskLayerId: r.disk_layer_id,
    homeDir: r.home_dir,
    provisionedBy: r.provisioned_by as ProvisionedBy,
    cloneMode: r.clone_mode as CloneMode | null,
    fleetId: r.fleet_id,
    powerState: r.power_state as VmPowerState,
    state: r.state as RecordState,
    createdAt: r.created_at,
    accel: r.accel as VmAccel | null,
    accelOverride: r.accel_override as Vm["accelOverride"],
    pid: r.pid,
    stateDir: r.state_dir,
    forkedFrom: r.forked_from,
    stunMs: r.stun_ms,
    crashed: r.crashed === 1,
    machine: r.machine ? (JSON.parse(r.machine) as VmMachine) : null,
    stopTimeoutSeconds: r.stop_timeout_seconds ?? null,
    instantCloneOf: r.instant_clone_of ?? null,
    hostId: r.host_id,
    migrationNotifyTimeoutSeconds: r.migration_notify_timeout_seconds,
    migrationOnMissingAck: r.migration_on_missing_ack as MissingAckPolicy,
    haRestart: r.ha_restart === 1,
  };
}
