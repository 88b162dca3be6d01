/**
 * `clonefleet:InstantCloneParent`: a running VM captured into a static object instant clones
 * start from (S3). The provider object below is serialized by the SDK and runs in the
 * dynamic-provider process: it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ClonefleetClient, ParentWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { changedKeys, checkInputs, connectionOf, loadRuntime, withConnectionKeys } from "./provider-kit";
import { autonameInput } from "./autoname";

/** Inputs of an InstantCloneParent as the provider sees them (plain values). */
export interface InstantCloneParentInputs {
  sourceVmId: string;
  name: string;
  ramLocation?: string | null;
  restartSource?: boolean;
  waitForChildrenOnDestroy?: boolean;
  warmCount?: number;
  endpoint?: string;
  token?: string;
}

/** Outputs of an InstantCloneParent as the provider stores them. */
export interface InstantCloneParentOutputs extends InstantCloneParentInputs {
  ramLocation: string;
  restartSource: boolean;
  waitForChildrenOnDestroy: boolean;
  warmCount: number;
  datastoreId: string;
  memoryBytes: number;
  ramPath: string;
  deviceStatePath: string;
  diskPath: string;
  diskChain: string[];
  accel: string;
  qemuVersion: string;
  children: string[];
  state: string;
  createdAt: string;
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["sourceVmId", "name", "ramLocation"];
const IN_PLACE_KEYS = ["restartSource", "waitForChildrenOnDestroy", "warmCount"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_instant_clone_parent. */
export const INSTANT_CLONE_PARENT_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

function parentOutputs(inputs: Partial<InstantCloneParentInputs>, p: ParentWire): InstantCloneParentOutputs {
  return {
    ...connectionOf(inputs),
    sourceVmId: p.source_vm_id,
    name: p.name,
    ramLocation: p.ram_location,
    restartSource: inputs.restartSource ?? true,
    waitForChildrenOnDestroy: inputs.waitForChildrenOnDestroy ?? false,
    // The engine's count, so that a refresh shows a change made outside Pulumi.
    warmCount: p.warm_count,
    datastoreId: p.datastore_id,
    memoryBytes: p.memory_bytes,
    ramPath: p.ram_path,
    deviceStatePath: p.device_state_path,
    diskPath: p.disk_path,
    diskChain: [...p.disk_chain],
    accel: p.accel,
    qemuVersion: p.qemu_version,
    children: [...p.children],
    state: p.state,
    createdAt: p.created_at,
  };
}

/** Deletes parent `id`: at once (the engine refuses, naming them, while it has children), or once its children are gone. */
async function deleteParent(client: ClonefleetClient, id: string, wait: boolean): Promise<void> {
  if (!wait) return client.parents.delete(id);
  await client.waitJob((await client.parents.deleteWhenChildrenGone(id)).id);
}

/** The dynamic provider of InstantCloneParent; the SDK serializes it, so each method builds its own client. */
export const instantCloneParentProvider: pulumi.dynamic.ResourceProvider<InstantCloneParentInputs, InstantCloneParentOutputs> = {
  async check(olds, news) {
    const checked = await checkInputs({ validate: "validateInstantCloneParentInputs", defaults: "withInstantCloneParentDefaults", key: "instant_clone_parent", autoname: true }, { ...olds }, { ...news });
    return { inputs: checked.inputs as unknown as typeof news, failures: checked.failures };
  },

  async diff(_id, olds, news) {
    // State written before warmCount existed holds none: that is the engine's 0, not a change.
    const prior = { ...olds, warmCount: olds.warmCount ?? 0 };
    const changes = changedKeys(prior, { ...news }, withConnectionKeys(["sourceVmId", "name", ...IN_PLACE_KEYS]));
    // ramLocation left out means "the engine's setting", which the outputs hold: only a given one is compared.
    if (news.ramLocation !== undefined && news.ramLocation !== null) changes.push(...changedKeys(prior, { ...news }, ["ramLocation"]));
    const replaces = changes.filter((k) => REPLACE_KEYS.includes(k));
    // Parent names are unique: the old one goes first.
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const rt = loadRuntime();
    const client = rt.connect(inputs);
    const action = `capture VM ${inputs.sourceVmId} as instant-clone parent ${JSON.stringify(inputs.name)}`;
    try {
      // A record of the same name whose files vanished would block the name; its children (being replaced) are waited for.
      const stale = (await client.parents.list()).find((p) => p.name === inputs.name && p.state !== "ready");
      if (stale) await deleteParent(client, stale.id, stale.children.length > 0);
      const job = await client.parents.create(
        {
          source_vm_id: inputs.sourceVmId,
          name: inputs.name,
          ...(inputs.ramLocation ? { ram_location: inputs.ramLocation as "tmpfs" | "datastore" } : {}),
          warm_count: inputs.warmCount ?? 0,
        },
        rt.newIdempotencyKey(),
      );
      const p = (await client.waitJob(job.id)).result as ParentWire;
      // The capture leaves the source stopped; started again, a source declared running stays as declared.
      if (inputs.restartSource ?? true) await client.vms.start(inputs.sourceVmId);
      return { id: p.id, outs: parentOutputs(inputs, p) };
    } catch (err) {
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async read(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      const p = await client.parents.get(id);
      // Gone, or its files vanished (it cannot be cloned): an empty result tells Pulumi so, and the next update captures it again.
      if (!p || p.state !== "ready") return {};
      const prior = (props ?? {}) as Partial<InstantCloneParentInputs>;
      const outs = parentOutputs(prior, p);
      if (prior.name === undefined) {
        const inputs: InstantCloneParentInputs = {
          sourceVmId: p.source_vm_id,
          name: p.name,
          ramLocation: p.ram_location,
          restartSource: true,
          waitForChildrenOnDestroy: false,
          warmCount: p.warm_count,
          ...connectionOf({ endpoint: prior.endpoint }),
        };
        return { id, props: outs, inputs: inputs as InstantCloneParentOutputs };
      }
      return { id, props: outs };
    } catch (err) {
      throw rt.providerError(err, `read instant-clone parent ${id}`, client.endpoint);
    }
  },

  async update(id, olds, news) {
    // warmCount changes in the engine; restartSource and waitForChildrenOnDestroy act at the next create or delete.
    const rt = loadRuntime();
    const client = rt.connect(news);
    const action = `update instant-clone parent ${id}`;
    try {
      let p = await client.parents.get(id);
      if (!p || p.state !== "ready") throw rt.goneError("instant-clone parent", id, action);
      const warmCount = news.warmCount ?? 0;
      if (p.warm_count !== warmCount) p = await client.parents.update(id, { warm_count: warmCount });
      return { outs: parentOutputs({ ...olds, ...news }, p) };
    } catch (err) {
      if (err instanceof Error && /^CF_[A-Z_]+: /.test(err.message)) throw err;
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async delete(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      await deleteParent(client, id, props.waitForChildrenOnDestroy ?? false);
    } catch (err) {
      // Already gone is what delete wants.
      if ((err as { status?: number }).status === 404) return;
      throw rt.providerError(err, `delete instant-clone parent ${id}`, client.endpoint);
    }
  },
};

/** Arguments of an InstantCloneParent. */
export interface InstantCloneParentArgs extends ConnectionArgs {
  /** Id of the running Vm to capture. Changing it replaces the parent. */
  sourceVmId: pulumi.Input<string>;
  /** Unique parent name: letters, digits, '.', '_', '-'; at most 63 characters; default: the logical name plus a random suffix (kept across updates). Changing it replaces the parent. */
  name?: pulumi.Input<string>;
  /** `tmpfs` (this host's memory: fastest, lost at a reboot) or `datastore` (survives reboots); default the engine's setting. Changing it replaces the parent. */
  ramLocation?: pulumi.Input<string>;
  /** Start the source VM again after the capture, a cold boot on its new overlay (default true); false leaves it stopped. */
  restartSource?: pulumi.Input<boolean>;
  /** On delete, wait until the parent's instant clones are gone instead of failing while it has any (default false). */
  waitForChildrenOnDestroy?: pulumi.Input<boolean>;
  /**
   * Children each engine host keeps pre-started for this parent (0–64, default 0), so that a new
   * instant clone only resumes one (state loaded ahead, paused). Changed in place.
   */
  warmCount?: pulumi.Input<number>;
}

/**
 * An instant-clone parent: a running VM's RAM (in a file), device state and frozen disk, which
 * Vm resources with `instantCloneOf` start from without a boot. Deleting it while it has
 * instant clones fails naming them, unless `waitForChildrenOnDestroy`. A parent whose files
 * vanished refreshes as gone, and the next update captures it again.
 */
export class InstantCloneParent extends pulumi.dynamic.Resource {
  /** Id of the VM it was captured from. */
  declare readonly sourceVmId: pulumi.Output<string>;
  /** The parent's name. */
  declare readonly name: pulumi.Output<string>;
  /** Where its RAM file lives: tmpfs or datastore. */
  declare readonly ramLocation: pulumi.Output<string>;
  /** Whether the source VM is started again after the capture. */
  declare readonly restartSource: pulumi.Output<boolean>;
  /** Whether a delete waits for its instant clones to go. */
  declare readonly waitForChildrenOnDestroy: pulumi.Output<boolean>;
  /** Children each engine host keeps pre-started for it, as the engine holds it. */
  declare readonly warmCount: pulumi.Output<number>;
  /** Id of the datastore holding its files. */
  declare readonly datastoreId: pulumi.Output<string>;
  /** Guest RAM size in bytes. */
  declare readonly memoryBytes: pulumi.Output<number>;
  /** The RAM file children map copy-on-write. */
  declare readonly ramPath: pulumi.Output<string>;
  /** The device state (saved with x-ignore-shared). */
  declare readonly deviceStatePath: pulumi.Output<string>;
  /** The frozen top disk layer children get their overlays on. */
  declare readonly diskPath: pulumi.Output<string>;
  /** The frozen disk chain, top first. */
  declare readonly diskChain: pulumi.Output<string[]>;
  /** Accelerator the state was saved under. */
  declare readonly accel: pulumi.Output<string>;
  /** QEMU version the state was saved by. */
  declare readonly qemuVersion: pulumi.Output<string>;
  /** Ids of its instant clones when last read. */
  declare readonly children: pulumi.Output<string[]>;
  /** The engine's view of the parent: ready. */
  declare readonly state: pulumi.Output<string>;
  /** When it was captured (RFC 3339). */
  declare readonly createdAt: pulumi.Output<string>;
  /** Engine API URL the parent is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a parent; inputs are checked by the provider, and create waits for the capture job. */
  constructor(name: string, args: InstantCloneParentArgs, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      instantCloneParentProvider,
      name,
      {
        sourceVmId: args.sourceVmId,
        name: args.name,
        ramLocation: args.ramLocation,
        restartSource: args.restartSource,
        waitForChildrenOnDestroy: args.waitForChildrenOnDestroy,
        warmCount: args.warmCount,
        ...autonameInput(name, args, opts),
        endpoint: conn.endpoint,
        token: conn.token,
        datastoreId: undefined,
        memoryBytes: undefined,
        ramPath: undefined,
        deviceStatePath: undefined,
        diskPath: undefined,
        diskChain: undefined,
        accel: undefined,
        qemuVersion: undefined,
        children: undefined,
        state: undefined,
        createdAt: undefined,
      },
      withSecretToken(opts),
      "clonefleet",
      "InstantCloneParent",
    );
  }

  /** Looks up an existing parent by id (for example one made with the CLI); the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): InstantCloneParent {
    return new InstantCloneParent(name, { ...(connection ?? {}) } as InstantCloneParentArgs, { ...opts, id });
  }
}
