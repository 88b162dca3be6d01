/**
 * `clonefleet:DiskPool`: full copies of a template's disk kept ready on one datastore (S1). The
 * provider object below is serialized by the SDK and runs in the dynamic-provider process: it
 * captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { PoolWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { connectionOf, defineDynamicResource } from "./provider-kit";
import type { OperationTimeoutsArgs } from "./timeouts";

/** Inputs of a DiskPool as the provider sees them (plain values). */
export interface DiskPoolInputs {
  templateId: string;
  datastoreId: string;
  size: number;
  atSize?: boolean;
  timeouts?: OperationTimeoutsArgs;
  endpoint?: string;
  token?: string;
}

/** Outputs of a DiskPool as the provider stores them. */
export interface DiskPoolOutputs extends DiskPoolInputs {
  atSize: boolean;
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["templateId", "datastoreId"];
const INPUT_KEYS = ["templateId", "datastoreId", "size", "atSize"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_disk_pool. */
export const DISK_POOL_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

/** The outputs for a pool the engine answered with. */
function diskPoolOutputs(inputs: Partial<DiskPoolInputs>, p: PoolWire): DiskPoolOutputs {
  return {
    ...connectionOf(inputs),
    templateId: p.template_id,
    datastoreId: p.datastore_id,
    size: p.size,
    // The count of ready copies moves as clones take copies and the pool refills: not an output, or every refresh would differ.
    atSize: p.ready >= p.size,
  };
}

/** The dynamic provider of DiskPool; the SDK serializes it, so each method builds its own client. */
export const diskPoolProvider: pulumi.dynamic.ResourceProvider<DiskPoolInputs, DiskPoolOutputs> = defineDynamicResource<DiskPoolInputs, DiskPoolOutputs>({
  noun: "disk pool",
  key: "disk_pool",
  validate: "validateDiskPoolInputs",
  defaults: "withDiskPoolDefaults",
  inputKeys: INPUT_KEYS,
  // One pool per template and datastore: the old one goes first (the kit's default).
  replaceKeys: REPLACE_KEYS,
  action: (verb, inputs, id) => (verb === "create" ? `create disk pool on datastore ${inputs.datastoreId}` : `${verb} disk pool ${id}`),

  async create(ctx, inputs) {
    const id = (await ctx.client.pools.create({ template_id: inputs.templateId, datastore_id: inputs.datastoreId, size: inputs.size })).id;
    try {
      const p = await ctx.client.waitPoolReady(id, { timeoutMs: ctx.timeout.ms });
      return { id: p.id, outs: diskPoolOutputs(inputs, p) };
    } catch (err) {
      // A pool that never filled is not what the program declared; leave nothing behind.
      await ctx.client.pools.delete(id).catch(() => undefined);
      throw err;
    }
  },

  async read(ctx, id, props) {
    const p = await ctx.client.pools.get(id);
    if (!p) return null;
    // A pool below its size reads back with atSize false: the next `pulumi up` plans an update that waits for the refill.
    const outs = diskPoolOutputs(props, p);
    if (props.templateId === undefined) {
      return { props: outs, inputs: { templateId: p.template_id, datastoreId: p.datastore_id, size: p.size, ...connectionOf({ endpoint: props.endpoint }) } };
    }
    return { props: outs };
  },

  async update(ctx, id, olds, news) {
    if (!(await ctx.client.pools.get(id))) throw ctx.rt.goneError("disk pool", id, `update disk pool ${id}`);
    if (olds.size !== news.size) await ctx.client.pools.resize(id, news.size);
    // Whether the size changed or clones took copies, the pool is declared full: wait for it.
    return diskPoolOutputs({ ...olds, ...news }, await ctx.client.waitPoolReady(id, { timeoutMs: ctx.timeout.ms }));
  },

  async delete(ctx, id) {
    await ctx.client.pools.delete(id);
  },
});

/** Arguments of a DiskPool. */
export interface DiskPoolArgs extends ConnectionArgs {
  /** Id of the Template whose disk the pool holds copies of. Changing it replaces the pool. */
  templateId: pulumi.Input<string>;
  /** Id of the Datastore the copies are kept on. Changing it replaces the pool. */
  datastoreId: pulumi.Input<string>;
  /** Ready copies to keep (0–1024); changes in place, and create and update wait until the pool holds them. */
  size: pulumi.Input<number>;
  /** Leave it unset: the provider reads false while the pool is below its size, and the next update waits for the refill. */
  atSize?: pulumi.Input<boolean>;
  /** How long create, update (default 30m each: they wait for the pool to fill) and delete (10m) may take, such as `{ create: "1h" }`; see OperationTimeoutsArgs. */
  timeouts?: pulumi.Input<OperationTimeoutsArgs>;
}

/** A clonefleet disk pool: ready full copies of a template's disk on one datastore, handed to clones by a rename. */
export class DiskPool extends pulumi.dynamic.Resource {
  /** Id of the template the pool copies. */
  declare readonly templateId: pulumi.Output<string>;
  /** Id of the datastore the copies are on. */
  declare readonly datastoreId: pulumi.Output<string>;
  /** Ready copies the pool keeps. */
  declare readonly size: pulumi.Output<number>;
  /** False while the pool holds fewer ready copies than its size; the next update waits for the refill. */
  declare readonly atSize: pulumi.Output<boolean>;
  /** Engine API URL the pool is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a disk pool; inputs are checked by the provider, and create waits until the pool is full. */
  constructor(name: string, args: DiskPoolArgs, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      diskPoolProvider,
      name,
      { templateId: args.templateId, datastoreId: args.datastoreId, size: args.size, atSize: args.atSize, timeouts: args.timeouts, endpoint: conn.endpoint, token: conn.token },
      withSecretToken(opts),
      "clonefleet",
      "DiskPool",
    );
  }

  /** Looks up an existing disk pool by id (for example one made with the CLI); the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): DiskPool {
    return new DiskPool(name, { ...(connection ?? {}) } as DiskPoolArgs, { ...opts, id });
  }
}
