/**
 * `clonefleet:DiskPool`: full copies of a template's disk kept ready on one datastore (S1). The
 * provider object below is serialized by the SDK and runs in the dynamic-provider process: it
 * captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { PoolWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { changedKeys, checkInputs, connectionOf, loadRuntime, withConnectionKeys } from "./provider-kit";

/** Inputs of a DiskPool as the provider sees them (plain values). */
export interface DiskPoolInputs {
  templateId: string;
  datastoreId: string;
  size: number;
  atSize?: boolean;
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
export const diskPoolProvider: pulumi.dynamic.ResourceProvider<DiskPoolInputs, DiskPoolOutputs> = {
  async check(olds, news) {
    const checked = await checkInputs({ validate: "validateDiskPoolInputs", defaults: "withDiskPoolDefaults", key: "disk_pool" }, { ...olds }, { ...news });
    return { inputs: checked.inputs as unknown as typeof news, failures: checked.failures };
  },

  async diff(_id, olds, news) {
    const changes = changedKeys({ ...olds }, { ...news }, withConnectionKeys(INPUT_KEYS));
    const replaces = changes.filter((k) => REPLACE_KEYS.includes(k));
    // One pool per template and datastore: the old one goes first.
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const rt = loadRuntime();
    const client = rt.connect(inputs);
    const action = `create disk pool on datastore ${inputs.datastoreId}`;
    let id: string | undefined;
    try {
      id = (await client.pools.create({ template_id: inputs.templateId, datastore_id: inputs.datastoreId, size: inputs.size })).id;
      const p = await client.waitPoolReady(id);
      return { id: p.id, outs: diskPoolOutputs(inputs, p) };
    } catch (err) {
      // A pool that never filled is not what the program declared; leave nothing behind.
      if (id) await client.pools.delete(id).catch(() => undefined);
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async read(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    const p = await client.pools.get(id).catch((err: unknown) => {
      throw rt.providerError(err, `read disk pool ${id}`, client.endpoint);
    });
    // Gone on the engine: an empty result tells Pulumi so, and the next update recreates it.
    if (!p) return {};
    const prior = (props ?? {}) as Partial<DiskPoolInputs>;
    // A pool below its size reads back with atSize false: the next `pulumi up` plans an update that waits for the refill.
    const outs = diskPoolOutputs(prior, p);
    if (prior.templateId === undefined) {
      const inputs: DiskPoolInputs = { templateId: p.template_id, datastoreId: p.datastore_id, size: p.size, ...connectionOf({ endpoint: prior.endpoint }) };
      return { id, props: outs, inputs: inputs as DiskPoolOutputs };
    }
    return { id, props: outs };
  },

  async update(id, olds, news) {
    const rt = loadRuntime();
    const client = rt.connect(news);
    const action = `update disk pool ${id}`;
    try {
      if (!(await client.pools.get(id))) throw rt.goneError("disk pool", id, action);
      if (olds.size !== news.size) await client.pools.resize(id, news.size);
      // Whether the size changed or clones took copies, the pool is declared full: wait for it.
      return { outs: diskPoolOutputs({ ...olds, ...news }, await client.waitPoolReady(id)) };
    } catch (err) {
      if (err instanceof Error && /^CF_[A-Z_]+: /.test(err.message)) throw err;
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async delete(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      await client.pools.delete(id);
    } catch (err) {
      // Already gone is what delete wants.
      if ((err as { status?: number }).status === 404) return;
      throw rt.providerError(err, `delete disk pool ${id}`, client.endpoint);
    }
  },
};

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
      { templateId: args.templateId, datastoreId: args.datastoreId, size: args.size, atSize: args.atSize, endpoint: conn.endpoint, token: conn.token },
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
