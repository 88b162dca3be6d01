/**
 * `clonefleet:Snapshot`: an external snapshot of a VM (S4); deleting it consolidates the VM's
 * chain. The provider object below is serialized by the SDK and runs in the dynamic-provider
 * process: it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ClonefleetClient, JobWire, SnapshotWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { changedKeys, checkInputs, connectionOf, loadRuntime, withConnectionKeys } from "./provider-kit";
import { autonameInput } from "./autoname";

/** Inputs of a Snapshot as the provider sees them (plain values). */
export interface SnapshotInputs {
  vmId: string;
  name: string;
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
async function consolidateSnapshot(client: ClonefleetClient, id: string): Promise<void> {
  let job: JobWire;
  try {
    job = await client.snapshots.delete(id);
  } catch (err) {
    const e = err as { status?: number; message?: string };
    const running = e.status === 409 ? /being deleted by job (\S+)/.exec(e.message ?? "")?.[1] : undefined;
    if (!running) throw err;
    job = await client.jobs.get(running);
  }
  await client.waitJob(job.id);
}

/** The dynamic provider of Snapshot; the SDK serializes it, so each method builds its own client. */
export const snapshotProvider: pulumi.dynamic.ResourceProvider<SnapshotInputs, SnapshotOutputs> = {
  async check(olds, news) {
    const checked = await checkInputs({ validate: "validateSnapshotInputs", key: "snapshot", autoname: true }, { ...olds }, { ...news });
    return { inputs: checked.inputs as unknown as typeof news, failures: checked.failures };
  },

  async diff(_id, olds, news) {
    const changes = changedKeys({ ...olds }, { ...news }, withConnectionKeys(REPLACE_KEYS));
    const replaces = changes.filter((k) => REPLACE_KEYS.includes(k));
    // Snapshot names are unique per VM: the old one goes (is consolidated) first.
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const rt = loadRuntime();
    const client = rt.connect(inputs);
    const action = `snapshot VM ${inputs.vmId} as ${JSON.stringify(inputs.name)}`;
    try {
      // A drifted snapshot of the same name (a cancelled consolidation wrote into it) would block the name.
      const stale = (await client.snapshots.list(inputs.vmId)).find((s) => s.name === inputs.name && s.state !== "ready");
      if (stale) await consolidateSnapshot(client, stale.id);
      const job = await client.snapshots.create(inputs.vmId, { name: inputs.name }, rt.newIdempotencyKey());
      const done = await client.waitJob(job.id);
      const s = done.result as SnapshotWire;
      return { id: s.id, outs: snapshotOutputs(inputs, s) };
    } catch (err) {
      // The engine names the VM of /vms/{id}/… `id`; here it is the vmId input.
      throw rt.providerError(rt.renameField(err, "id", "vm_id"), action, client.endpoint);
    }
  },

  async read(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      const s = await client.snapshots.get(id);
      // Consolidated or removed outside, or no longer holding its point in time: gone, and the next update takes it again.
      if (!s || s.state !== "ready") return {};
      const prior = (props ?? {}) as Partial<SnapshotInputs>;
      const outs = snapshotOutputs(prior, s);
      if (prior.name === undefined) {
        const inputs: SnapshotInputs = { vmId: s.vm_id, name: s.name, ...connectionOf({ endpoint: prior.endpoint }) };
        return { id, props: outs, inputs: inputs as SnapshotOutputs };
      }
      return { id, props: outs };
    } catch (err) {
      throw rt.providerError(err, `read snapshot ${id}`, client.endpoint);
    }
  },

  async delete(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      if (!(await client.snapshots.get(id))) return;
      await consolidateSnapshot(client, id);
    } catch (err) {
      // Already gone is what delete wants.
      if ((err as { status?: number }).status === 404) return;
      throw rt.providerError(err, `delete (consolidate) snapshot ${id}`, client.endpoint);
    }
  },
};

/** Arguments of a Snapshot. */
export interface SnapshotArgs extends ConnectionArgs {
  /** Id of the Vm to snapshot, running or stopped. Changing it replaces the snapshot. */
  vmId: pulumi.Input<string>;
  /** Snapshot name, unique per VM: letters, digits, '.', '_', '-'; at most 63 characters; default: the logical name plus a random suffix (kept across updates). Changing it replaces the snapshot. */
  name?: pulumi.Input<string>;
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
