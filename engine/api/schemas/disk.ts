import { Type, type Static } from "@sinclair/typebox";
import type { ChainLayerView, DatastoreLayerView } from "../../ops";

const NullableString = Type.Union([Type.String(), Type.Null()]);

export const ChainQuery = Type.Object(
  { path: Type.String({ description: "Absolute path of a disk inside a datastore." }) },
  { additionalProperties: false },
);
export type ChainQuery = Static<typeof ChainQuery>;

export const ChainLayerWire = Type.Object({
  path: Type.String(),
  format: Type.String(),
  virtual_size_bytes: Type.Integer(),
  actual_size_bytes: Type.Integer(),
  backing_path: NullableString,
  content_id: NullableString,
  parent_content_id: NullableString,
  layer_id: NullableString,
  owner_kind: NullableString,
  owner_id: NullableString,
  datastore_id: NullableString,
});
export type ChainLayerWire = Static<typeof ChainLayerWire>;

export const ChainWire = Type.Object({ path: Type.String(), depth: Type.Integer(), layers: Type.Array(ChainLayerWire) }, { $id: "DiskChain" });
export type ChainWire = Static<typeof ChainWire>;

/** The wire form of a described chain (top layer first). */
export function chainToWire(diskPath: string, layers: ChainLayerView[]): ChainWire {
  return {
    path: diskPath,
    depth: layers.length,
    layers: layers.map((l) => ({
      path: l.path,
      format: l.format,
      virtual_size_bytes: l.virtualSizeBytes,
      actual_size_bytes: l.actualSizeBytes,
      backing_path: l.backingPath,
      content_id: l.contentId,
      parent_content_id: l.parentContentId,
      layer_id: l.layerId,
      owner_kind: l.ownerKind,
      owner_id: l.ownerId,
      datastore_id: l.datastoreId,
    })),
  };
}

/** A recorded layer of a datastore, for drawing its layer graph. */
export const DatastoreLayerWire = Type.Object(
  {
    id: Type.String(),
    path: Type.String(),
    content_id: Type.String(),
    parent_content_id: NullableString,
    backing_path: Type.Union([Type.String(), Type.Null()], { description: "The layer this one rests on (its path), null for a base." }),
    owner_kind: Type.String({ description: "template, pool, vm, snapshot, replica or parent" }),
    owner_id: Type.String(),
    virtual_size_bytes: Type.Integer(),
    allocated_bytes: Type.Union([Type.Integer(), Type.Null()], { description: "Room the file takes now; null when the file is gone." }),
    state: Type.String(),
    created_at: Type.String(),
  },
  { $id: "DatastoreLayer" },
);
export type DatastoreLayerWire = Static<typeof DatastoreLayerWire>;

/** The wire form of a datastore's layer. */
export function datastoreLayerToWire(l: DatastoreLayerView): DatastoreLayerWire {
  return {
    id: l.id,
    path: l.path,
    content_id: l.contentId,
    parent_content_id: l.parentContentId,
    backing_path: l.backingPath,
    owner_kind: l.ownerKind,
    owner_id: l.ownerId,
    virtual_size_bytes: l.virtualSizeBytes,
    allocated_bytes: l.allocatedBytes,
    state: l.state,
    created_at: l.createdAt,
  };
}
