// The fields of the engine's wire records the console shows (see docs/engine-api.md).

export interface DatastoreWire { id: string; name: string; path: string; free_bytes: number | null; total_bytes: number | null; reachable: boolean }
export interface TemplateWire { id: string; name: string; datastore_id: string; disk_path: string; content_id: string; virtual_size_bytes: number; memory_mb: number; vcpus: number; state: string }
export interface PoolWire { id: string; template_id: string; datastore_id: string; host_id: string; size: number; ready: number; filling: number; state: string; last_error: string | null; failures: number }
export interface FleetMemberWire { id: string; name: string; datastore_id: string; provisioned_by: string; state: string }
export interface FleetWire { id: string; name_prefix: string; template_id: string; size: number; clone_mode: string; power_state: string; host_id: string; state: string; members_ready: number; members_running: number; vms: FleetMemberWire[] }
export interface VmWire {
  id: string;
  name: string;
  template_id: string | null;
  datastore_id: string;
  host_id: string;
  disk_path: string;
  content_id: string | null;
  chain_depth: number;
  provisioned_by: string;
  fleet_id: string | null;
  power_state: string;
  state: string;
  accel: string | null;
  forked_from: string | null;
  instant_clone_of: string | null;
  stun_ms?: number | null;
}
export interface ParentWire { id: string; name: string; source_vm_id: string; datastore_id: string; ram_location: string; memory_mb: number; children: string[]; state: string; warm_count: number; warm_ready: number; warm_error: string | null }
export interface SnapshotWire { id: string; vm_id: string; name: string; content_id: string; state: string; created_at: string }
export interface ReplicaWire { id: string; source_kind: string; source_disk_path: string; target_datastore_id: string; layers_copied: number; layers_reused: number; state: string; drift: unknown }
export interface HostWire { id: string; status: string; heartbeat_age_ms: number; vm_count: number; pid: number; api_url: string; down_reason: string | null }
export interface JobWire {
  id: string;
  kind: string;
  state: string;
  progress: { unit: string; done: number; total: number; message?: string };
  target_id: string | null;
  error: { code: string; message: string; field?: string } | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  host_id: string;
  steps?: { step: string; at: string }[];
}
export interface ChainLayerWire { path: string; content_id: string | null; layer_id: string | null; owner_kind: string | null; owner_id: string | null; actual_size_bytes: number; virtual_size_bytes: number }
export interface ChainWire { path: string; depth: number; layers: ChainLayerWire[] }
export interface DatastoreLayerWire {
  id: string;
  path: string;
  content_id: string;
  backing_path: string | null;
  owner_kind: string;
  owner_id: string;
  virtual_size_bytes: number;
  allocated_bytes: number | null;
  state: string;
}
