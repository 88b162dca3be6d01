/**
 * Rows, patch spec and row mappers of the hosts table (S6) for the SQLite store; kept apart
 * from sqlite.ts so that the host columns live in one place.
 */
import type { Host, HostStatus } from "../model";

/** A `hosts` row. */
export interface HostRow {
  id: string;
  name: string;
  api_url: string;
  pid: number;
  state_dir: string;
  vm_state_root: string;
  last_heartbeat_at: string;
  status: string;
  down_reason: string | null;
  started_at: string;
  created_at: string;
  token_hash: string | null;
}

const identity = (v: unknown): unknown => v;

/** Patchable host fields, camelCase → column and encoder. */
export const HOST_PATCH: Record<string, [string, (v: unknown) => unknown]> = {
  apiUrl: ["api_url", identity],
  pid: ["pid", identity],
  stateDir: ["state_dir", identity],
  vmStateRoot: ["vm_state_root", identity],
  lastHeartbeatAt: ["last_heartbeat_at", identity],
  status: ["status", identity],
  downReason: ["down_reason", identity],
  startedAt: ["started_at", identity],
  tokenHash: ["token_hash", identity],
};

/** The row of a host. */
export function hostRow(h: Host): HostRow {
  return {
    id: h.id,
    name: h.name,
    api_url: h.apiUrl,
    pid: h.pid,
    state_dir: h.stateDir,
    vm_state_root: h.vmStateRoot,
    last_heartbeat_at: h.lastHeartbeatAt,
    status: h.status,
    down_reason: h.downReason,
    started_at: h.startedAt,
    created_at: h.createdAt,
    token_hash: h.tokenHash ?? null,
  };
}

/** The host of a row. */
export function toHost(r: HostRow): Host {
  return {
    id: r.id,
    name: r.name,
    apiUrl: r.api_url,
    pid: r.pid,
    stateDir: r.state_dir,
    vmStateRoot: r.vm_state_root,
    lastHeartbeatAt: r.last_heartbeat_at,
    status: r.status as HostStatus,
    downReason: r.down_reason,
    startedAt: r.started_at,
    createdAt: r.created_at,
    tokenHash: r.token_hash,
  };
}
