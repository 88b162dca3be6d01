/**
 * `clonefleet:Datastore`: a directory on the engine host where clonefleet keeps disks.
 * The provider object below is serialized by the SDK and runs in the dynamic-provider process:
 * it captures only pure helpers and reaches the engine through the runtime it requires.
 */
import * as pulumi from "@pulumi/pulumi";
import type { DatastoreWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { connectionOf, defineDynamicResource } from "./provider-kit";
import { autonameInput } from "./autoname";

/** Inputs of a Datastore as the provider sees them (plain values). */
export interface DatastoreInputs {
  name: string;
  path: string;
  shared?: boolean;
  hostId?: string;
  endpoint?: string;
  token?: string;
}

/** Outputs of a Datastore as the provider stores them; its space moves on its own, so `getDatastore` reads it. */
export interface DatastoreOutputs extends DatastoreInputs {
  shared: boolean;
  hostId?: string;
}

// Kept unexported: provider methods reference module-scope values, and an exported const would
// be reached through `exports`, dragging the whole module (and the SDK) into the closure.
const REPLACE_KEYS = ["name", "path", "shared", "hostId"];
const INPUT_KEYS = ["name", "path"];
// Left out, they read what the engine chose (shared, or the host that answered `shared: false`).
const GIVEN_KEYS = ["shared", "hostId"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_datastore. */
export const DATASTORE_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

/** The outputs for a datastore the engine answered with; the user's `path` is kept as written. */
function datastoreOutputs(inputs: DatastoreInputs, d: DatastoreWire): DatastoreOutputs {
  return { ...connectionOf(inputs), name: d.name, path: inputs.path ?? d.path, shared: d.shared, ...(d.host_id ? { hostId: d.host_id } : {}) };
}

/** The dynamic provider of Datastore; the SDK serializes it, so each method builds its own client. */
export const datastoreProvider: pulumi.dynamic.ResourceProvider<DatastoreInputs, DatastoreOutputs> = defineDynamicResource<DatastoreInputs, DatastoreOutputs>({
  noun: "datastore",
  validate: "validateDatastoreInputs",
  inputKeys: INPUT_KEYS,
  replaceKeys: REPLACE_KEYS,
  givenKeys: GIVEN_KEYS,
  autoname: true,
  // Names and paths are unique on the engine: the new datastore can be added before the old one
  // is gone only when both change.
  deleteBeforeReplace: (replaces) => !(replaces.includes("name") && replaces.includes("path")),

  async create(ctx, inputs) {
    const d = await ctx.client.datastores.create({
      name: inputs.name,
      path: inputs.path,
      ...(inputs.shared !== undefined ? { shared: inputs.shared } : {}),
      ...(inputs.hostId !== undefined ? { host_id: inputs.hostId } : {}),
    });
    return { id: d.id, outs: datastoreOutputs(inputs, d) };
  },

  async read(ctx, id, props) {
    const d = await ctx.client.datastores.get(id);
    if (!d) return null;
    const outs = datastoreOutputs({ ...props, name: d.name, path: props.path ?? d.path }, d);
    // An import or `get` starts from nothing but the id: hand Pulumi the inputs as well.
    if (props.name === undefined) {
      return { props: outs, inputs: { name: d.name, path: d.path, shared: d.shared, ...(d.host_id ? { hostId: d.host_id } : {}), ...connectionOf({ endpoint: props.endpoint }) } };
    }
    return { props: outs };
  },

  async delete(ctx, id) {
    await ctx.client.datastores.delete(id);
  },
});

/** Arguments of a Datastore. */
export interface DatastoreArgs extends ConnectionArgs {
  /** Unique name: letters, digits, '.', '_', '-'; at most 63 characters; default: the logical name plus a random suffix (kept across updates). Changing it replaces the datastore. */
  name?: pulumi.Input<string>;
  /** Absolute directory on the engine host; created when missing. Changing it replaces the datastore. */
  path: pulumi.Input<string>;
  /** True (default): every host sees the directory at the same path. False: it belongs to `hostId`, or to the host the provider talks to. Changing it replaces the datastore. */
  shared?: pulumi.Input<boolean>;
  /** The one host whose agent can read the directory; VMs, pools and fleets on it live there. Conflicts with `shared: true`. Changing it replaces the datastore. */
  hostId?: pulumi.Input<string>;
}

/** A clonefleet datastore; creating one registers (and creates) its directory on the engine host. */
export class Datastore extends pulumi.dynamic.Resource {
  /** Unique name of the datastore. */
  declare readonly name: pulumi.Output<string>;
  /** Directory on the engine host, as given. */
  declare readonly path: pulumi.Output<string>;
  /** True when every host sees it at the same path. */
  declare readonly shared: pulumi.Output<boolean>;
  /** The one host that can read it; undefined when shared. */
  declare readonly hostId: pulumi.Output<string | undefined>;
  /** Engine API URL the datastore is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a datastore; inputs are checked by the provider before anything is created. */
  constructor(name: string, args: DatastoreArgs, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      datastoreProvider,
      name,
      { name: args.name, path: args.path, shared: args.shared, hostId: args.hostId, ...autonameInput(name, args, opts), endpoint: conn.endpoint, token: conn.token },
      withSecretToken(opts),
      "clonefleet",
      "Datastore",
    );
  }

  /** Looks up an existing datastore by id (for example one made with the CLI); the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): Datastore {
    return new Datastore(name, { ...(connection ?? {}) } as DatastoreArgs, { ...opts, id });
  }
}
