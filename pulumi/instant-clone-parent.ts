/**
 * `clonefleet:InstantCloneParent`: a running VM captured into a static object instant clones
 * start from (S3). The provider object below is serialized by the SDK and runs in the
 * dynamic-provider process: it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ClonefleetClient, ParentWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { connectionOf, defineDynamicResource } from "./provider-kit";
import type { OperationTimeoutsArgs } from "./timeouts";
import { autonameInput } from "./autoname";

/** Inputs of an InstantCloneParent as the provider sees them (plain values). */
export interface InstantCloneParentInputs {
  sourceVmId: string;
  name: string;
  ramLocation?: string | null;
  restartSource?: boolean;
  waitForChildrenOnDestroy?: boolean;
  warmCount?: number;
  timeouts?: OperationTimeoutsArgs;
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
async function deleteParent(client: ClonefleetClient, id: string, wait: boolean, timeoutMs: number): Promise<void> {
  if (!wait) return client.parents.delete(id);
  await client.waitJob((await client.parents.deleteWhenChildrenGone(id)).id, { timeoutMs });
}

/** The dynamic provider of InstantCloneParent; the SDK serializes it, so each method builds its own client. */
export const instantCloneParentProvider: pulumi.dynamic.ResourceProvider<InstantCloneParentInputs, InstantCloneParentOutputs> = defineDynamicResource<
  InstantCloneParentInputs,
  InstantCloneParentOutputs
>({
  noun: "instant-clone parent",
  key: "instant_clone_parent",
  validate: "validateInstantCloneParentInputs",
  defaults: "withInstantCloneParentDefaults",
  inputKeys: ["sourceVmId", "name", ...IN_PLACE_KEYS],
  // Parent names are unique: the old one goes first (the kit's default).
  replaceKeys: REPLACE_KEYS,
  // ramLocation left out means "the engine's setting", which the outputs hold: only a given one is compared.
  givenKeys: ["ramLocation"],
  // State written before warmCount existed holds none: that is the engine's 0, not a change.
  upgradeState: (olds) => ({ ...olds, warmCount: olds.warmCount ?? 0 }),
  autoname: true,
  action: (verb, inputs, id) => (verb === "create" ? `capture VM ${inputs.sourceVmId} as instant-clone parent ${JSON.stringify(inputs.name)}` : `${verb} instant-clone parent ${id}`),

  async create(ctx, inputs) {
    // A record of the same name whose files vanished would block the name; its children (being replaced) are waited for.
    const stale = (await ctx.client.parents.list()).find((p) => p.name === inputs.name && p.state !== "ready");
    if (stale) await deleteParent(ctx.client, stale.id, stale.children.length > 0, ctx.timeout.ms);
    const job = await ctx.client.parents.create(
      {
        source_vm_id: inputs.sourceVmId,
        name: inputs.name,
        ...(inputs.ramLocation ? { ram_location: inputs.ramLocation as "tmpfs" | "datastore" } : {}),
        warm_count: inputs.warmCount ?? 0,
      },
      ctx.rt.newIdempotencyKey(),
    );
    const p = (await ctx.client.waitJob(job.id, { timeoutMs: ctx.timeout.ms })).result as ParentWire;
    // The capture leaves the source stopped; started again, a source declared running stays as declared.
    if (inputs.restartSource ?? true) await ctx.client.vms.start(inputs.sourceVmId);
    return { id: p.id, outs: parentOutputs(inputs, p) };
  },

  async read(ctx, id, props) {
    const p = await ctx.client.parents.get(id);
    // Gone, or its files vanished (it cannot be cloned): the next update captures it again.
    if (!p || p.state !== "ready") return null;
    const outs = parentOutputs(props, p);
    if (props.name !== undefined) return { props: outs };
    // An import or `get` starts from nothing but the id: hand Pulumi the inputs as well.
    const inputs: InstantCloneParentInputs = {
      sourceVmId: p.source_vm_id,
      name: p.name,
      ramLocation: p.ram_location,
      restartSource: true,
      waitForChildrenOnDestroy: false,
      warmCount: p.warm_count,
      ...connectionOf({ endpoint: props.endpoint }),
    };
    return { props: outs, inputs };
  },

  async update(ctx, id, olds, news) {
    // warmCount changes in the engine; restartSource and waitForChildrenOnDestroy act at the next create or delete.
    let p = await ctx.client.parents.get(id);
    if (!p || p.state !== "ready") throw ctx.rt.goneError("instant-clone parent", id, `update instant-clone parent ${id}`);
    const warmCount = news.warmCount ?? 0;
    if (p.warm_count !== warmCount) p = await ctx.client.parents.update(id, { warm_count: warmCount });
    return parentOutputs({ ...olds, ...news }, p);
  },

  async delete(ctx, id, props) {
    await deleteParent(ctx.client, id, props.waitForChildrenOnDestroy ?? false, ctx.timeout.ms);
  },
});

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
  /** How long create (a capture) and delete (with waitForChildrenOnDestroy, the wait for the children) may take, 10m each by default; see OperationTimeoutsArgs. */
  timeouts?: pulumi.Input<OperationTimeoutsArgs>;
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
        timeouts: args.timeouts,
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
