import { Type, type Static } from "@sinclair/typebox";
import type { DatastoreStatus } from "../../ops";

export const CreateDatastoreBody = Type.Object(
  {
    name: Type.String({ description: "Unique name: letters, digits, '.', '_', '-'; at most 63 characters." }),
    path: Type.String({ description: "Absolute directory on the engine host; created when missing." }),
    shared: Type.Optional(Type.Boolean({ description: "True (the default): the same path on every host, as NFS. False: it belongs to host_id, or to the host that answers." })),
    host_id: Type.Optional(Type.String({ description: "The one host that can read it (its agent makes the folder); conflicts with shared: true." })),
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
    shared: Type.Boolean({ description: "True when every host sees it at the same path; false when only host_id does." }),
    host_id: Type.Union([Type.String(), Type.Null()], { description: "The one host that can read it; null when shared." }),
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
    shared: d.hostId === null,
    host_id: d.hostId,
    created_at: d.createdAt,
  };
}
