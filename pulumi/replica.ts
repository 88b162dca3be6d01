/**
 * `clonefleet:Replica`: a disk chain recreated on another datastore by content ID (S7). The
 * provider object below is serialized by the SDK and runs in the dynamic-provider process: it
 * captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ReplicaWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { connectionOf, defineDynamicResource } from "./provider-kit";
import type { OperationTimeoutsArgs } from "./timeouts";

/** Inputs of a Replica as the provider sees them (plain values). */
export interface ReplicaInputs {
  sourceDiskPath?: string | null;
  templateId?: string | null;
  targetDatastoreId: string;
  verify?: boolean;
  inSync?: boolean;
  timeouts?: OperationTimeoutsArgs;
  endpoint?: string;
  token?: string;
}

/** A layer found on the target by content ID and relied on instead of copying. */
export interface ReplicaReusedLayer {
  path: string;
  contentId: string;
}

/** One layer of the replica's chain on the target, top first. */
export interface ReplicaChainLayer {
  path: string;
  contentId: string;
  parentContentId: string | null;
  /** `copied` by this replica, or `reused` from the target. */
  origin: string;
}

/** Outputs of a Replica as the provider stores them. */
export interface ReplicaOutputs extends ReplicaInputs {
  sourceDiskPath: string | null;
  templateId: string | null;
  verify: boolean;
  inSync: boolean;
  diskPath: string;
  copiedBytes: number;
  layersCopied: number;
  layersReused: number;
  reusedLayers: ReplicaReusedLayer[];
  chain: ReplicaChainLayer[];
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["sourceDiskPath", "templateId", "targetDatastoreId"];
const INPUT_KEYS = ["sourceDiskPath", "templateId", "targetDatastoreId", "verify", "inSync"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_replica. */
export const REPLICA_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

/** The outputs for a replica the engine answered with; the source is kept as the program gave it. */
function replicaOutputs(inputs: Partial<ReplicaInputs>, r: ReplicaWire): ReplicaOutputs {
  return {
    ...connectionOf(inputs),
    sourceDiskPath: inputs.sourceDiskPath ?? null,
    templateId: inputs.templateId ?? null,
    targetDatastoreId: r.target_datastore_id,
    verify: inputs.verify ?? false,
    inSync: r.state !== "drifted",
    diskPath: r.disk_path,
    copiedBytes: r.copied_bytes,
    layersCopied: r.layers_copied,
    layersReused: r.layers_reused,
    reusedLayers: r.reused_layers.map((l) => ({ path: l.path, contentId: l.content_id })),
    chain: r.chain.map((l) => ({ path: l.path, contentId: l.content_id, parentContentId: l.parent_content_id, origin: l.origin })),
  };
}

/** The dynamic provider of Replica; the SDK serializes it, so each method builds its own client. */
export const replicaProvider: pulumi.dynamic.ResourceProvider<ReplicaInputs, ReplicaOutputs> = defineDynamicResource<ReplicaInputs, ReplicaOutputs>({
  noun: "replica",
  key: "replica",
  validate: "validateReplicaInputs",
  defaults: "withReplicaDefaults",
  inputKeys: INPUT_KEYS,
  // A new replica on the same target could reuse the old one's layers by content ID, and the old
  // one could then not be deleted: the old one goes first (the kit's default).
  replaceKeys: REPLACE_KEYS,
  action: (verb, inputs, id) => (verb === "create" ? `create replica on datastore ${inputs.targetDatastoreId}` : `${verb} replica ${id}`),

  async create(ctx, inputs) {
    const job = await ctx.client.replicas.create(
      {
        ...(inputs.sourceDiskPath ? { source_disk_path: inputs.sourceDiskPath } : {}),
        ...(inputs.templateId ? { template_id: inputs.templateId } : {}),
        target_datastore_id: inputs.targetDatastoreId,
        verify: inputs.verify ?? false,
      },
      ctx.rt.newIdempotencyKey(),
    );
    const done = await ctx.client.waitJob(job.id, { timeoutMs: ctx.timeout.ms });
    const r = (done.result as ReplicaWire | null) ?? (done.target_id ? await ctx.client.replicas.get(done.target_id) : null);
    if (!r) throw new Error(`job ${done.id} succeeded without naming the replica it made`);
    return { id: r.id, outs: replicaOutputs(inputs, r) };
  },

  async read(ctx, id, props) {
    const r = await ctx.client.replicas.get(id);
    if (!r) return null;
    // An import or `get` starts from nothing but the id: take the source and settings from the engine.
    const importing = props.targetDatastoreId === undefined;
    const source = importing
      ? {
          sourceDiskPath: r.source_kind === "disk" ? r.source_disk_path : null,
          templateId: r.source_kind === "template" ? r.template_id : null,
          verify: r.last_run.verified !== null,
        }
      : { sourceDiskPath: props.sourceDiskPath, templateId: props.templateId, verify: props.verify };
    // A drifted replica reads back with inSync false: the next `pulumi up` plans an update that repairs it.
    const outs = replicaOutputs({ ...props, ...source }, r);
    if (!importing) return { props: outs };
    const inputs: ReplicaInputs = { targetDatastoreId: r.target_datastore_id, verify: source.verify, ...connectionOf({ endpoint: props.endpoint }) };
    if (source.sourceDiskPath) inputs.sourceDiskPath = source.sourceDiskPath;
    if (source.templateId) inputs.templateId = source.templateId;
    return { props: outs, inputs };
  },

  async update(ctx, id, olds, news) {
    let r: ReplicaWire | null;
    if (olds.inSync === false && news.inSync !== false) {
      // Drift seen by the last refresh: copy again only what the replica lost.
      const job = await ctx.client.replicas.repair(id, { verify: news.verify ?? false }, ctx.rt.newIdempotencyKey());
      r = (await ctx.client.waitJob(job.id, { timeoutMs: ctx.timeout.ms })).result as ReplicaWire;
      if (r.state === "drifted") {
        throw new Error(`the repair finished but the replica still does not match: ${r.drift.map((d) => `${d.path}: ${d.reason}`).join("; ")}`);
      }
    } else {
      // Only the connection or verify changed: re-reading proves the connection works.
      r = await ctx.client.replicas.get(id);
      if (!r) throw ctx.rt.goneError("replica", id, `update replica ${id}`);
    }
    return replicaOutputs({ ...olds, ...news }, r);
  },

  async delete(ctx, id) {
    await ctx.client.replicas.delete(id);
  },
});

/** Arguments of a Replica; give exactly one of `sourceDiskPath` and `templateId`. */
export interface ReplicaArgs extends ConnectionArgs {
  /** Top layer of the chain to replicate: a qcow2 file inside a datastore whose layers have content IDs. Changing it replaces the replica. */
  sourceDiskPath?: pulumi.Input<string>;
  /** Replicate this Template's disk. Changing it replaces the replica. */
  templateId?: pulumi.Input<string>;
  /** Id of the Datastore to recreate the chain on (not the one holding the source). Changing it replaces the replica. */
  targetDatastoreId: pulumi.Input<string>;
  /** Compare the replica with the source (`qemu-img compare`) after creating or repairing it (default false). */
  verify?: pulumi.Input<boolean>;
  /** Leave it unset: the provider reads false while the replica is drifted, and the next update repairs it. */
  inSync?: pulumi.Input<boolean>;
  /** How long create, update (a repair; default 30m each) and delete (10m) wait for their jobs, such as `{ create: "2h" }`; see OperationTimeoutsArgs. */
  timeouts?: pulumi.Input<OperationTimeoutsArgs>;
}

/** A clonefleet replica: a template's or a disk's chain recreated on another datastore, copying only what the target lacks. */
export class Replica extends pulumi.dynamic.Resource {
  /** The source disk's top layer, as given (null for a template's). */
  declare readonly sourceDiskPath: pulumi.Output<string | null>;
  /** The source template, as given (null for a disk's). */
  declare readonly templateId: pulumi.Output<string | null>;
  /** Id of the datastore the chain was recreated on. */
  declare readonly targetDatastoreId: pulumi.Output<string>;
  /** Whether creation and repairs compare the result with the source. */
  declare readonly verify: pulumi.Output<boolean>;
  /** False while the replica is drifted (a target layer it relies on was removed or changed); the next update repairs it. */
  declare readonly inSync: pulumi.Output<boolean>;
  /** Top layer of the replica on the target datastore: the disk to use. */
  declare readonly diskPath: pulumi.Output<string>;
  /** Bytes copied for this replica over all its runs. */
  declare readonly copiedBytes: pulumi.Output<number>;
  /** Layers this replica copied (and owns). */
  declare readonly layersCopied: pulumi.Output<number>;
  /** Layers found on the target by content ID and reused. */
  declare readonly layersReused: pulumi.Output<number>;
  /** The reused layers: their target paths and content IDs. */
  declare readonly reusedLayers: pulumi.Output<ReplicaReusedLayer[]>;
  /** The replica's chain on the target, top first. */
  declare readonly chain: pulumi.Output<ReplicaChainLayer[]>;
  /** Engine API URL the replica is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a replica; inputs are checked by the provider, and create waits for the replication job. */
  constructor(name: string, args: ReplicaArgs, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      replicaProvider,
      name,
      {
        sourceDiskPath: args.sourceDiskPath,
        templateId: args.templateId,
        targetDatastoreId: args.targetDatastoreId,
        verify: args.verify,
        inSync: args.inSync,
        timeouts: args.timeouts,
        endpoint: conn.endpoint,
        token: conn.token,
        diskPath: undefined,
        copiedBytes: undefined,
        layersCopied: undefined,
        layersReused: undefined,
        reusedLayers: undefined,
        chain: undefined,
      },
      withSecretToken(opts),
      "clonefleet",
      "Replica",
    );
  }

  /** Looks up an existing replica by id (for example one made with the CLI); the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): Replica {
    return new Replica(name, { ...(connection ?? {}) } as ReplicaArgs, { ...opts, id });
  }
}
