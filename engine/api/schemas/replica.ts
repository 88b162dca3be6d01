import { Type, type Static } from "@sinclair/typebox";
import type { CreateReplicaRequest, RepairReplicaRequest, ReplicaView } from "../../ops";
import type { ReplicationRun } from "../../model";

const NullableString = Type.Union([Type.String(), Type.Null()]);

export const CreateReplicaBody = Type.Object(
  {
    source_disk_path: Type.Optional(
      Type.String({ description: "Top layer of the chain to replicate: an absolute path of a qcow2 file inside a datastore. Give this or template_id." }),
    ),
    template_id: Type.Optional(Type.String({ description: "Replicate this template's disk chain. Give this or source_disk_path." })),
    target_datastore_id: Type.String({ description: "Datastore to recreate the chain on; not the one holding the source disk." }),
    verify: Type.Optional(Type.Boolean({ description: "Compare the result with the source (qemu-img compare) before recording it (default false)." })),
  },
  { additionalProperties: false },
);
export type CreateReplicaBody = Static<typeof CreateReplicaBody>;

export const RepairReplicaBody = Type.Object(
  { verify: Type.Optional(Type.Boolean({ description: "Compare the repaired replica with the source (default false)." })) },
  { additionalProperties: false },
);
export type RepairReplicaBody = Static<typeof RepairReplicaBody>;

export const ReplicaListQuery = Type.Object(
  { target_datastore_id: Type.Optional(Type.String({ description: "Only replicas on this datastore." })) },
  { additionalProperties: false },
);
export type ReplicaListQuery = Static<typeof ReplicaListQuery>;

export const ReplicaChainLayerWire = Type.Object({
  position: Type.Integer({ description: "0 is the top layer." }),
  path: Type.String({ description: "The layer on the target datastore." }),
  content_id: Type.String(),
  parent_content_id: NullableString,
  virtual_size_bytes: Type.Integer(),
  origin: Type.Union([Type.Literal("copied"), Type.Literal("reused")], { description: "copied by this replica, or found on the target by content ID" }),
  layer_id: NullableString,
  source_path: Type.String({ description: "The source layer whose content it holds." }),
});

export const ReplicationRunWire = Type.Object({
  run_id: Type.String(),
  kind: Type.Union([Type.Literal("create"), Type.Literal("repair")]),
  copied: Type.Array(
    Type.Object({ position: Type.Integer(), source_path: Type.String(), target_path: Type.String(), content_id: Type.String(), bytes: Type.Integer() }),
  ),
  reused: Type.Array(Type.Object({ position: Type.Integer(), target_path: Type.String(), content_id: Type.String() })),
  kept: Type.Array(Type.Object({ position: Type.Integer(), target_path: Type.String(), content_id: Type.String() })),
  bytes_copied: Type.Integer(),
  stale_links: Type.Array(
    Type.Object({ child_path: Type.String(), recorded_parent_content_id: NullableString, parent_path: Type.String(), parent_content_id: Type.String() }),
    { description: "Source layers whose recorded parent content ID is not their parent's current one: their parents changed after they were made; such parents are never reused." },
  ),
  refused: Type.Array(Type.Object({ target_path: Type.String(), content_id: Type.String(), reason: Type.String() }), {
    description: "Target layers whose content ID matched but which were not reused (another virtual size or format, a broken chain).",
  }),
  verified: Type.Union([Type.Boolean(), Type.Null()]),
  started_at: Type.String(),
  finished_at: Type.String(),
});
export type ReplicationRunWire = Static<typeof ReplicationRunWire>;

export const ReplicaWire = Type.Object(
  {
    id: Type.String(),
    source_kind: Type.Union([Type.Literal("disk"), Type.Literal("template")]),
    source_disk_path: Type.String({ description: "Top layer of the source chain (for a template, its disk)." }),
    template_id: NullableString,
    target_datastore_id: Type.String(),
    disk_path: Type.String({ description: "Top layer of the replica on the target: the disk to use." }),
    top_layer_id: Type.String(),
    layers_copied: Type.Integer(),
    layers_reused: Type.Integer(),
    copied_bytes: Type.Integer({ description: "Bytes copied for this replica over all its runs." }),
    reused_layers: Type.Array(Type.Object({ path: Type.String(), content_id: Type.String() }), {
      description: "Layers found on the target and relied on instead of copying.",
    }),
    chain: Type.Array(ReplicaChainLayerWire, { description: "The replica's chain on the target, top first." }),
    state: Type.Union([Type.Literal("ready"), Type.Literal("drifted")]),
    drift: Type.Array(Type.Object({ position: Type.Integer(), path: Type.String(), reason: Type.String() }), {
      description: "Why the replica no longer matches (empty when ready).",
    }),
    last_run: ReplicationRunWire,
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { $id: "Replica" },
);
export type ReplicaWire = Static<typeof ReplicaWire>;

/** The op request from a validated wire body. */
export function createReplicaFromWire(b: CreateReplicaBody): CreateReplicaRequest {
  return {
    sourcePath: b.source_disk_path ?? null,
    templateId: b.template_id ?? null,
    targetDatastoreId: b.target_datastore_id,
    verify: b.verify ?? false,
  };
}

/** The op request of a repair from the replica id and a validated (possibly empty) body. */
export function repairReplicaFromWire(replicaId: string, b: RepairReplicaBody | undefined): RepairReplicaRequest {
  return { replicaId, verify: b?.verify ?? false };
}

/** The wire form of a replication run report. */
export function replicationRunToWire(r: ReplicationRun): ReplicationRunWire {
  return {
    run_id: r.runId,
    kind: r.kind,
    copied: r.copied.map((c) => ({ position: c.position, source_path: c.sourcePath, target_path: c.targetPath, content_id: c.contentId, bytes: c.bytes })),
    reused: r.reused.map((c) => ({ position: c.position, target_path: c.targetPath, content_id: c.contentId })),
    kept: r.kept.map((c) => ({ position: c.position, target_path: c.targetPath, content_id: c.contentId })),
    bytes_copied: r.bytesCopied,
    stale_links: r.staleLinks.map((s) => ({
      child_path: s.childPath,
      recorded_parent_content_id: s.recordedParentContentId,
      parent_path: s.parentPath,
      parent_content_id: s.parentContentId,
    })),
    refused: r.refused.map((x) => ({ target_path: x.targetPath, content_id: x.contentId, reason: x.reason })),
    verified: r.verified,
    started_at: r.startedAt,
    finished_at: r.finishedAt,
  };
}

/** The wire form of a replica. */
export function replicaToWire(r: ReplicaView): ReplicaWire {
  return {
    id: r.id,
    source_kind: r.sourceKind,
    source_disk_path: r.sourcePath,
    template_id: r.sourceTemplateId,
    target_datastore_id: r.targetDatastoreId,
    disk_path: r.diskPath,
    top_layer_id: r.topLayerId,
    layers_copied: r.layersCopied,
    layers_reused: r.layersReused,
    copied_bytes: r.bytesCopied,
    reused_layers: r.layers.filter((l) => l.origin === "reused").map((l) => ({ path: l.path, content_id: l.contentId })),
    chain: r.layers.map((l) => ({
      position: l.position,
      path: l.path,
      content_id: l.contentId,
      parent_content_id: l.parentContentId,
      virtual_size_bytes: l.virtualSizeBytes,
      origin: l.origin,
      layer_id: l.layerId,
      source_path: l.sourcePath,
    })),
    state: r.state,
    drift: r.drift.map((d) => ({ position: d.position, path: d.path, reason: d.reason })),
    last_run: replicationRunToWire(r.lastRun),
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
}
