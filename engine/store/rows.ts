/**
 * Rows and row mappers of the inventory tables not kept with their capability (sqlite-clones.ts,
 * sqlite-hosts.ts, sqlite-parents.ts): shared by the SQLite store and the SQL inventory, so a
 * column is spelled in one place whichever database holds it.
 */
import type { Datastore, DiskLayer, Job, JobState, RecordState, Replica, ReplicaLayer, Snapshot, Template } from "../model";

/** Patchable fields, camelCase → column and encoder. */
export type PatchSpec = Record<string, [string, (v: unknown) => unknown]>;

export interface SnapshotRow {
  id: string;
  vm_id: string;
  name: string;
  layer_id: string;
  state: string;
  created_at: string;
}

export function toSnapshot(r: SnapshotRow): Snapshot {
  return { id: r.id, vmId: r.vm_id, name: r.name, layerId: r.layer_id, state: r.state as RecordState, createdAt: r.created_at };
}


export interface DatastoreRow {
  id: string;
  name: string;
  path: string;
  created_at: string;
  host_id: string | null;
}

export interface LayerRow {
  id: string;
  datastore_id: string;
  path: string;
  format: string;
  virtual_size_bytes: number;
  content_id: string;
  parent_content_id: string | null;
  backing_path: string | null;
  owner_kind: string;
  owner_id: string;
  state: string;
  created_at: string;
}

export interface TemplateRow {
  id: string;
  name: string;
  datastore_id: string;
  disk_layer_id: string;
  memory_mb: number;
  vcpus: number;
  source_path: string;
  kernel_source: string | null;
  initrd_source: string | null;
  kernel: string | null;
  initrd: string | null;
  cmdline: string | null;
  state: string;
  created_at: string;
}

export interface ReplicaRow {
  id: string;
  source_kind: string;
  source_path: string;
  source_template_id: string | null;
  target_datastore_id: string;
  top_layer_id: string;
  disk_path: string;
  layers_copied: number;
  layers_reused: number;
  bytes_copied: number;
  last_run: string;
  state: string;
  created_at: string;
  updated_at: string;
}

export interface ReplicaLayerRow {
  replica_id: string;
  position: number;
  path: string;
  content_id: string;
  parent_content_id: string | null;
  virtual_size_bytes: number;
  format: string;
  origin: string;
  layer_id: string | null;
  source_path: string;
}

export interface JobRow {
  id: string;
  kind: string;
  state: string;
  progress: string;
  idempotency_key: string | null;
  request: string | null;
  intent: string | null;
  result: string | null;
  error: string | null;
  target_id: string | null;
  cancel_requested: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  host_id: string | null;
}

// Anything else in a patch is ignored, so a whole record passed as a patch can never reach a
// column such as `id` or `created_at`.
const identity = (v: unknown): unknown => v;
export const LAYER_PATCH: PatchSpec = {
  contentId: ["content_id", identity],
  parentContentId: ["parent_content_id", identity],
  backingPath: ["backing_path", identity],
  path: ["path", identity],
  state: ["state", identity],
  virtualSizeBytes: ["virtual_size_bytes", identity],
};
export const REPLICA_PATCH: PatchSpec = {
  sourcePath: ["source_path", identity],
  topLayerId: ["top_layer_id", identity],
  diskPath: ["disk_path", identity],
  layersCopied: ["layers_copied", identity],
  layersReused: ["layers_reused", identity],
  bytesCopied: ["bytes_copied", identity],
  lastRun: ["last_run", (v) => JSON.stringify(v)],
  state: ["state", identity],
  updatedAt: ["updated_at", identity],
};
export const JOB_PATCH: PatchSpec = {
  state: ["state", identity],
  progress: ["progress", (v) => JSON.stringify(v)],
  intent: ["intent", encodeJson],
  result: ["result", encodeJson],
  error: ["error", encodeJson],
  targetId: ["target_id", identity],
  cancelRequested: ["cancel_requested", (v) => (v ? 1 : 0)],
  startedAt: ["started_at", identity],
  finishedAt: ["finished_at", identity],
};

export function encodeJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

export function decodeJson(text: string | null): unknown {
  return text === null ? null : JSON.parse(text);
}

export function toDatastore(r: DatastoreRow): Datastore {
  return { id: r.id, name: r.name, path: r.path, createdAt: r.created_at, hostId: r.host_id };
}

export function toLayer(r: LayerRow): DiskLayer {
  return {
    id: r.id,
    datastoreId: r.datastore_id,
    path: r.path,
    format: r.format as DiskLayer["format"],
    virtualSizeBytes: r.virtual_size_bytes,
    contentId: r.content_id,
    parentContentId: r.parent_content_id,
    backingPath: r.backing_path,
    ownerKind: r.owner_kind as DiskLayer["ownerKind"],
    ownerId: r.owner_id,
    state: r.state as RecordState,
    createdAt: r.created_at,
  };
}

export function toTemplate(r: TemplateRow): Template {
  return {
    id: r.id,
    name: r.name,
    datastoreId: r.datastore_id,
    diskLayerId: r.disk_layer_id,
    memoryMb: r.memory_mb,
    vcpus: r.vcpus,
    sourcePath: r.source_path,
    kernelSource: r.kernel_source,
    initrdSource: r.initrd_source,
    kernel: r.kernel,
    initrd: r.initrd,
    cmdline: r.cmdline,
    state: r.state as RecordState,
    createdAt: r.created_at,
  };
}

export function toJob(r: JobRow): Job {
  return {
    id: r.id,
    kind: r.kind,
    state: r.state as JobState,
    progress: JSON.parse(r.progress) as Job["progress"],
    idempotencyKey: r.idempotency_key,
    request: decodeJson(r.request),
    intent: decodeJson(r.intent),
    result: decodeJson(r.result),
    error: decodeJson(r.error) as Job["error"],
    targetId: r.target_id,
    cancelRequested: r.cancel_requested === 1,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    hostId: r.host_id,
  };
}

export function datastoreRow(ds: Datastore): DatastoreRow {
  return { id: ds.id, name: ds.name, path: ds.path, created_at: ds.createdAt, host_id: ds.hostId };
}

export function layerRow(layer: DiskLayer): LayerRow {
  return {
    id: layer.id,
    datastore_id: layer.datastoreId,
    path: layer.path,
    format: layer.format,
    virtual_size_bytes: layer.virtualSizeBytes,
    content_id: layer.contentId,
    parent_content_id: layer.parentContentId,
    backing_path: layer.backingPath,
    owner_kind: layer.ownerKind,
    owner_id: layer.ownerId,
    state: layer.state,
    created_at: layer.createdAt,
  };
}

export function templateRow(t: Template): TemplateRow {
  return {
    id: t.id,
    name: t.name,
    datastore_id: t.datastoreId,
    disk_layer_id: t.diskLayerId,
    memory_mb: t.memoryMb,
    vcpus: t.vcpus,
    source_path: t.sourcePath,
    kernel_source: t.kernelSource,
    initrd_source: t.initrdSource,
    kernel: t.kernel,
    initrd: t.initrd,
    cmdline: t.cmdline,
    state: t.state,
    created_at: t.createdAt,
  };
}

export function replicaRow(r: Replica): ReplicaRow {
  return {
    id: r.id,
    source_kind: r.sourceKind,
    source_path: r.sourcePath,
    source_template_id: r.sourceTemplateId,
    target_datastore_id: r.targetDatastoreId,
    top_layer_id: r.topLayerId,
    disk_path: r.diskPath,
    layers_copied: r.layersCopied,
    layers_reused: r.layersReused,
    bytes_copied: r.bytesCopied,
    last_run: JSON.stringify(r.lastRun),
    state: r.state,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
}

export function replicaLayerRow(replicaId: string, l: ReplicaLayer): ReplicaLayerRow {
  return {
    replica_id: replicaId,
    position: l.position,
    path: l.path,
    content_id: l.contentId,
    parent_content_id: l.parentContentId,
    virtual_size_bytes: l.virtualSizeBytes,
    format: l.format,
    origin: l.origin,
    layer_id: l.layerId,
    source_path: l.sourcePath,
  };
}

/** The replica of a row and its layer rows (any order; sorted by position here). */
export function toReplica(r: ReplicaRow, layerRows: readonly ReplicaLayerRow[]): Replica {
  const layers = [...layerRows]
    .sort((a, b) => a.position - b.position)
    .map(
      (l): ReplicaLayer => ({
        position: l.position,
        path: l.path,
        contentId: l.content_id,
        parentContentId: l.parent_content_id,
        virtualSizeBytes: l.virtual_size_bytes,
        format: l.format as ReplicaLayer["format"],
        origin: l.origin as ReplicaLayer["origin"],
        layerId: l.layer_id,
        sourcePath: l.source_path,
      }),
    );
  return {
    id: r.id,
    sourceKind: r.source_kind as Replica["sourceKind"],
    sourcePath: r.source_path,
    sourceTemplateId: r.source_template_id,
    targetDatastoreId: r.target_datastore_id,
    topLayerId: r.top_layer_id,
    diskPath: r.disk_path,
    layersCopied: r.layers_copied,
    layersReused: r.layers_reused,
    bytesCopied: r.bytes_copied,
    layers,
    lastRun: JSON.parse(r.last_run) as Replica["lastRun"],
    state: r.state as RecordState,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function snapshotRow(snap: Snapshot): SnapshotRow {
  return { id: snap.id, vm_id: snap.vmId, name: snap.name, layer_id: snap.layerId, state: snap.state, created_at: snap.createdAt };
}

export function jobRow(job: Job): JobRow {
  return {
    id: job.id,
    kind: job.kind,
    state: job.state,
    progress: JSON.stringify(job.progress),
    idempotency_key: job.idempotencyKey,
    request: encodeJson(job.request),
    intent: encodeJson(job.intent),
    result: encodeJson(job.result),
    error: encodeJson(job.error),
    target_id: job.targetId,
    cancel_requested: job.cancelRequested ? 1 : 0,
    created_at: job.createdAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    host_id: job.hostId ?? null,
  };
}
