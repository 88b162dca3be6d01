/**
 * `clonefleet:Snapshot`: an external snapshot of a VM (S4); deleting it consolidates the VM's
 * chain. The provider object below is serialized by the SDK and runs in the dynamic-provider
 * process: it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ClonefleetClient, JobWire, SnapshotWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { connectionOf, defineDynamicResource } from "./provider-kit";
import type { OperationTimeoutsArgs } from "./timeouts";
import { autonameInput } from "./autoname";

/** Inputs of a Snapshot as the provider sees them (plain values). */
export interface SnapshotInputs {
  vmId: string;
  name: string;
  timeouts?: OperationTimeoutsArgs;
  endpoint?: string;
  token?: string;
}

/** Outputs of a Snapshot as the provider stores them. */
export interface SnapshotOutputs extends SnapshotInputs {
  frozenDiskPath: string;
  frozenChain: string[];
  contentId: string | null;
  state: string;
  createdAt: string;
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["vmId", "name"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_snapshot. */
export const SNAPSHOT_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

function snapshotOutputs(inputs: Partial<SnapshotInputs>, s: SnapshotWire): SnapshotOutputs {
  return {
    ...connectionOf(inputs),
    vmId: s.vm_id,
    name: s.name,
    frozenDiskPath: s.frozen_disk_path,
    frozenChain: [...s.frozen_chain],
    contentId: s.content_id,
    state: s.state,
    createdAt: s.created_at,
  };
}

/** Deletes (consolidates) a snapshot and waits; a consolidation already under way (an earlier delete that gave up waiting) is waited for instead. */
async function consolidateSnapshot(client: ClonefleetClient, id: string, timeoutMs: number): Promise<void> {
  let job: JobWire;
  try {
    job = await client.snapshots.delete(id);
  } catch (err) {
    const e = err as { status?: number; message?: string };
    const running = e.status === 409 ? /being deleted by job (\S+)/.exec(e.message ?? "")?.[1] : undefined;
    if (!running) throw err;
    job = await client.jobs.get(running);
  }
  await client.waitJob(job.id, { timeoutMs });
}

/** The dynamic provider of Snapshot; the SDK serializes it, so each method builds its own client. */
export const snapshotProvider: pulumi.dynamic.ResourceProvider<SnapshotInputs, SnapshotOutputs> = defineDynamicResource<SnapshotInputs, SnapshotOutputs>({
  noun: "snapshot",
  key: "snapshot",
  validate: "validateSnapshotInputs",
  inputKeys: REPLACE_KEYS,
  // Snapshot names are unique per VM: the old one goes (is consolidated) first (the kit's default).
  replaceKeys: REPLACE_KEYS,
  autoname: true,
  action: (verb, inputs, id) => {
    if (verb === "create") return `snapshot VM ${inputs.vmId} as ${JSON.stringify(inputs.name)}`;
    return verb === "delete" ? `delete (consolidate) snapshot ${id}` : `${verb} snapshot ${id}`;
  },

  async create(ctx, inputs) {
    try {
      // A drifted snapshot of the same name (a cancelled consolidation wrote into it) would block the name.
      const stale = (await ctx.client.snapshots.list(inputs.vmId)).find((s) => s.name === inputs.name && s.state !== "ready");
      if (stale) await consolidateSnapshot(ctx.client, stale.id, ctx.timeout.ms);
      const job = await ctx.client.snapshots.create(inputs.vmId, { name: inputs.name }, ctx.rt.newIdempotencyKey());
      const s = (await ctx.client.waitJob(job.id, { timeoutMs: ctx.timeout.ms })).result as SnapshotWire;
      return { id: s.id, outs: snapshotOutputs(inputs, s) };
    } catch (err) {
      // The engine names the VM of /vms/{id}/… `id`; here it is the vmId input.
      throw ctx.rt.renameField(err, "id", "vm_id");
    }
  },

  async read(ctx, id, props) {
    const s = await ctx.client.snapshots.get(id);
    // Consolidated or removed outside, or no longer holding its point in time: gone, and the next update takes it again.
    if (!s || s.state !== "ready") return null;
    const outs = snapshotOutputs(props, s);
    if (props.name === undefined) return { props: outs, inputs: { vmId: s.vm_id, name: s.name, ...connectionOf({ endpoint: props.endpoint }) } };
    return { props: outs };
  },

  async delete(ctx, id) {
    if (!(await ctx.client.snapshots.get(id))) return;
    await consolidateSnapshot(ctx.client, id, ctx.timeout.ms);
  },
});

/** Arguments of a Snapshot. */
export interface SnapshotArgs extends ConnectionArgs {
  /** Id of the Vm to snapshot, running or stopped. Changing it replaces the snapshot. */
  vmId: pulumi.Input<string>;
  /** Snapshot name, unique per VM: letters, digits, '.', '_', '-'; at most 63 characters; default: the logical name plus a random suffix (kept across updates). Changing it replaces the snapshot. */
  name?: pulumi.Input<string>;
  /** How long create (default 10m) and delete (a consolidation; 30m) wait for their jobs, such as `{ delete: "2h" }`; see OperationTimeoutsArgs. */
  timeouts?: pulumi.Input<OperationTimeoutsArgs>;
}

/**
 * An external snapshot of a clonefleet VM: its top disk layer is frozen and it continues on a
 * new overlay, without a pause. Deleting it consolidates the layer back into the VM's chain
 * (live while the VM runs). A snapshot consolidated or removed outside Pulumi refreshes as gone.
 */
export class Snapshot extends pulumi.dynamic.Resource {
  /** Id of the VM it belongs to. */
  declare readonly vmId: pulumi.Output<string>;
  /** The snapshot's name. */
  declare readonly name: pulumi.Output<string>;
  /** The frozen layer: the VM's disk at the snapshot instant, to read with its backing chain. */
  declare readonly frozenDiskPath: pulumi.Output<string>;
  /** The frozen point-in-time chain, top first. */
  declare readonly frozenChain: pulumi.Output<string[]>;
  /** Content ID of the frozen layer. */
  declare readonly contentId: pulumi.Output<string | null>;
  /** The engine's view of the snapshot: ready. */
  declare readonly state: pulumi.Output<string>;
  /** When the snapshot was taken (RFC 3339). */
  declare readonly createdAt: pulumi.Output<string>;
  /** Engine API URL the snapshot is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a snapshot; inputs are checked by the provider, and create waits for the snapshot job. */
  constructor(name: string, args: SnapshotArgs, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      snapshotProvider,
      name,
      {
        vmId: args.vmId,
        name: args.name,
        timeouts: args.timeouts,
        ...autonameInput(name, args, opts),
        endpoint: conn.endpoint,
        token: conn.token,
        frozenDiskPath: undefined,
        frozenChain: undefined,
        contentId: undefined,
        state: undefined,
        createdAt: undefined,
      },
      withSecretToken(opts),
      "clonefleet",
      "Snapshot",
    );
  }

  /** Looks up an existing snapshot by id (for example one taken with the CLI); the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): Snapshot {
    return new Snapshot(name, { ...(connection ?? {}) } as SnapshotArgs, { ...opts, id });
  }
}
