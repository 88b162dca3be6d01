import { Type, type Static } from "@sinclair/typebox";
import type { DatastoreStatus } from "../../ops";

export const CreateDatastoreBody = Type.Object(
  {
    name: Type.String({ description: "Unique name: letters, digits, '.', '_', '-'; at most 63 characters." }),
    path: Type.String({ description: "Absolute directory on the engine host; created when missing." }),
  },
  { additionalProperties: false },
);
export type CreateDatastoreBody = Static<typeof CreateDatastoreBody>;

export const DatastoreWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    path: Type.String(),
    free_bytes: Type.Union([Type.Integer(), Type.Null()]),
    total_bytes: Type.Union([Type.Integer(), Type.Null()]),
    reachable: Type.Boolean(),
    created_at: Type.String(),
  },
  { $id: "Datastore" },
);
export type DatastoreWire = Static<typeof DatastoreWire>;

/** The wire form of a measured datastore. */
export function datastoreToWire(d: DatastoreStatus): DatastoreWire {
  return {
    id: d.id,
    name: d.name,
    path: d.path,
    free_bytes: d.freeBytes,
    total_bytes: d.totalBytes,
    reachable: d.reachable,
    created_at: d.createdAt,
  };
}
