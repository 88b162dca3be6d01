import { Type, type Static } from "@sinclair/typebox";
import type { CatalogRescanReport, RegisterDiskResult } from "../../ops";
import { chainToWire, ChainLayerWire } from "./disk";

export const CatalogRescanWire = Type.Object(
  {
    datastore_id: Type.String(),
    catalog_path: Type.String(),
    kept: Type.Array(
      Type.Object({ path: Type.String(), content_id: Type.String(), by: Type.Union([Type.Literal("inventory"), Type.Literal("catalog")]) }),
      { description: "Entries of the rebuilt catalog and who vouches for each." },
    ),
    dropped: Type.Array(Type.Object({ path: Type.String(), content_id: Type.String(), reason: Type.String() }), {
      description: "Entries of the old catalog left out, and why.",
    }),
    unknown: Type.Array(Type.Object({ path: Type.String(), format: Type.String(), virtual_size_bytes: Type.Integer() }), {
      description: "Disk images nothing vouches for; they get no content ID (register them with POST /disks/register).",
    }),
    drifted_layers: Type.Array(Type.String(), { description: "Inventory layers whose files were gone or changed, now marked drifted." }),
    previous_catalog_problem: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: "CatalogRescan" },
);
export type CatalogRescanWire = Static<typeof CatalogRescanWire>;

export const RegisterDiskBody = Type.Object(
  { path: Type.String({ description: "Top layer of a qcow2 chain inside a datastore, outside the engine's own folder." }) },
  { additionalProperties: false },
);
export type RegisterDiskBody = Static<typeof RegisterDiskBody>;

export const RegisterDiskWire = Type.Object(
  {
    path: Type.String(),
    depth: Type.Integer(),
    layers: Type.Array(ChainLayerWire),
    registered: Type.Array(Type.String(), { description: "Layers that got a content ID now (top first); the others already had one." }),
  },
  { $id: "RegisteredDisk" },
);
export type RegisterDiskWire = Static<typeof RegisterDiskWire>;

/** The wire form of a rescan report. */
export function rescanToWire(r: CatalogRescanReport): CatalogRescanWire {
  return {
    datastore_id: r.datastoreId,
    catalog_path: r.catalogPath,
    kept: r.kept.map((k) => ({ path: k.path, content_id: k.contentId, by: k.by })),
    dropped: r.dropped.map((d) => ({ path: d.path, content_id: d.contentId, reason: d.reason })),
    unknown: r.unknown.map((u) => ({ path: u.path, format: u.format, virtual_size_bytes: u.virtualSizeBytes })),
    drifted_layers: r.driftedLayers,
    previous_catalog_problem: r.previousCatalogProblem,
  };
}

/** The wire form of a registration result. */
export function registerDiskToWire(r: RegisterDiskResult): RegisterDiskWire {
  return { ...chainToWire(r.path, r.layers), registered: r.registered };
}
