import { Type, type Static } from "@sinclair/typebox";
import type { ChainLayerView } from "../../ops";

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
