/**
 * `getDatastore`: the data-source style lookup of a datastore and its space, by id or by name.
 * Space moves with every write, so it is read here rather than kept in a Datastore's outputs.
 * It runs in the program process, so it uses the typed client directly.
 */
import * as pulumi from "@pulumi/pulumi";
import { ApiError, type DatastoreWire } from "../engine/client";
import { resolvePlainConnection } from "./connection";
import { connect, providerError } from "./provider-runtime";

/** Arguments of getDatastore: `id` or `name` (one of them); the connection defaults as for resources. */
export interface GetDatastoreArgs {
  /** Datastore id (such as a Datastore's `id`). */
  id?: string;
  /** Datastore name. */
  name?: string;
  /** Engine API URL; default: `clonefleet:endpoint` config, CLONEFLEET_ENDPOINT, then http://127.0.0.1:7420. */
  endpoint?: string;
  /** API token; default: `clonefleet:token` config, then CLONEFLEET_TOKEN. */
  token?: string;
}

/** A datastore and its space, measured when read. */
export interface GetDatastoreResult {
  id: string;
  name: string;
  /** Directory on the engine host. */
  path: string;
  /** Whether the engine could read the directory when measuring it. */
  reachable: boolean;
  /** Free bytes of the filesystem under it; null when unreachable. */
  freeBytes: number | null;
  /** Size of that filesystem in bytes; null when unreachable. */
  totalBytes: number | null;
}

/**
 * Reads one datastore from the engine; rejects with a `CF_…: message` error naming `id` or
 * `name` (neither or both given, an unknown datastore, an unreachable engine, a wrong token).
 */
export async function getDatastore(args: GetDatastoreArgs): Promise<GetDatastoreResult> {
  const conn = resolvePlainConnection(args);
  const given = (v: unknown) => v !== undefined && v !== null;
  if (given(args.id) === given(args.name)) {
    throw providerError(new ApiError(400, "CF_INVALID_FIELD", "id: set id or name (one of them) to pick the datastore", "id"), "look up a datastore", conn.endpoint);
  }
  const client = connect(conn);
  const field = given(args.id) ? "id" : "name";
  const wanted = (args.id ?? args.name)!;
  try {
    const found = args.id ? await client.datastores.get(args.id) : (await client.datastores.list()).find((d) => d.name === args.name);
    if (!found) {
      const known = (await client.datastores.list()).map((d) => `${d.name} (${d.id})`);
      throw new ApiError(404, "CF_NOT_FOUND", `${field}: no datastore ${JSON.stringify(wanted)} on the engine (its datastores: ${known.join(", ") || "none"})`, field);
    }
    return fromWire(found);
  } catch (err) {
    throw providerError(err, `look up datastore ${JSON.stringify(wanted)}`, conn.endpoint);
  }
}

/** getDatastore for inputs that are outputs of other resources or config. */
export function getDatastoreOutput(args: { id?: pulumi.Input<string>; name?: pulumi.Input<string>; endpoint?: pulumi.Input<string>; token?: pulumi.Input<string> }): pulumi.Output<GetDatastoreResult> {
  return pulumi.output(args).apply((a) => getDatastore(a as GetDatastoreArgs));
}

function fromWire(d: DatastoreWire): GetDatastoreResult {
  return { id: d.id, name: d.name, path: d.path, reachable: d.reachable, freeBytes: d.free_bytes, totalBytes: d.total_bytes };
}
