/**
 * `clonefleet:Vm`: one VM cloned from a template by a pool copy, a full copy or a linked
 * overlay (S1), forked from another VM (S5), or started as an instant clone of a parent (S3); powered on or off in place, moved to
 * another host by a live migration and given its migration policy in place (S6). The provider object below is serialized by the SDK and runs in the
 * dynamic-provider process: it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ClonefleetClient, ChainWire, VmWire } from "../engine/client";
import type { VmDeclaration } from "../engine/client/vm-lifecycle";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { defineDynamicResource, type DynamicContext } from "./provider-kit";
import type { OperationTimeoutsArgs } from "./timeouts";
import { autonameInput } from "./autoname";

/** Inputs of a Vm as the provider sees them (plain values). */
export interface VmInputs {
  name: string;
  templateId?: string | null;
  forkOf?: string | null;
  instantCloneOf?: string | null;
  cloneMode?: string | null;
  datastoreId?: string | null;
  powerState?: string;
  stopTimeoutSeconds?: number | null;
  hostId?: string | null;
  migrationNotifyTimeoutSeconds?: number;
  migrationOnMissingAck?: string;
  haRestart?: boolean;
  timeouts?: OperationTimeoutsArgs;
  endpoint?: string;
  token?: string;
}

/** One layer of a VM's disk chain, top first. */
export interface VmDiskLayer {
  path: string;
  contentId: string | null;
}

/** Outputs of a Vm as the provider stores them. */
export interface VmOutputs extends VmInputs {
  templateId: string | null;
  forkOf: string | null;
  instantCloneOf: string | null;
  cloneMode: string | null;
  powerState: string;
  datastoreId: string;
  diskPath: string;
  provisionedBy: string;
  chainDepth: number;
  diskChain: VmDiskLayer[];
  state: string;
  forkedFrom: string | null;
  stopTimeoutSeconds: number | null;
  hostId: string;
  hostState: string;
  migrationNotifyTimeoutSeconds: number;
  migrationOnMissingAck: string;
  haRestart: boolean;
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["name", "templateId", "forkOf", "instantCloneOf", "cloneMode", "datastoreId"];
const INPUT_KEYS = ["name", "templateId", "forkOf", "instantCloneOf", "cloneMode", "powerState", "stopTimeoutSeconds", "migrationNotifyTimeoutSeconds", "migrationOnMissingAck", "haRestart"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_vm. */
export const VM_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

/** Inputs that change in place (hostId by a live migration); they match clonefleet_vm's settable attributes that do not force replacement. */
export const VM_IN_PLACE_KEYS: readonly string[] = Object.freeze([...INPUT_KEYS.filter((k) => !REPLACE_KEYS.includes(k)), "hostId"]);

/**
 * The outputs for a VM the engine answered with, its chain's content IDs read from the engine.
 * A fork or an instant clone has no template, clone mode or datastore of its own: they read null.
 */
async function vmOutputs(client: ClonefleetClient, inputs: Partial<VmInputs>, v: VmWire, early?: Promise<ChainWire | null> | null): Promise<VmOutputs> {
  // A chain read started before the VM's (of the disk the state names) serves when the disk has not moved.
  const prior = early ? await early : null;
  const chain = prior && prior.path === v.disk_path ? prior : await client.disks.chain(v.disk_path);
  const fromParent = Boolean(v.forked_from || v.instant_clone_of);
  return {
    name: v.name,
    templateId: fromParent ? null : (v.template_id ?? inputs.templateId ?? null),
    forkOf: v.forked_from ?? null,
    instantCloneOf: v.instant_clone_of ?? null,
    cloneMode: fromParent ? null : (inputs.cloneMode ?? v.clone_mode ?? "pool"),
    // Checked against the process now: a VM whose QEMU died reads stopped, and the next update starts it.
    powerState: v.power_state,
    datastoreId: v.datastore_id,
    diskPath: v.disk_path,
    provisionedBy: v.provisioned_by,
    chainDepth: v.chain_depth,
    diskChain: chain.layers.map((l) => ({ path: l.path, contentId: l.content_id })),
    state: v.crashed ? "crashed" : v.state,
    forkedFrom: v.forked_from ?? null,
    stopTimeoutSeconds: v.stop_timeout_seconds ?? null,
    // The host it is on now: a VM moved outside Pulumi diffs against a declared hostId, and the update moves it back.
    hostId: v.host_id,
    // down: the host stopped heartbeating, and powerState is the last the inventory knew.
    hostState: v.host_state,
    migrationNotifyTimeoutSeconds: v.migration_notify_timeout_seconds ?? 0,
    migrationOnMissingAck: v.migration_on_missing_ack ?? "proceed",
    haRestart: v.ha_restart ?? false,
  };
}

/** The VM the inputs declare; no hostId leaves the VM on its host. */
function declaration(inputs: Partial<VmInputs>): VmDeclaration {
  return {
    name: inputs.name!,
    templateId: inputs.templateId ?? null,
    forkOf: inputs.forkOf ?? null,
    instantCloneOf: inputs.instantCloneOf ?? null,
    cloneMode: (inputs.cloneMode ?? null) as VmDeclaration["cloneMode"],
    datastoreId: inputs.datastoreId ?? null,
    stopTimeoutSeconds: inputs.stopTimeoutSeconds ?? null,
    placement: {
      hostId: inputs.hostId ?? null,
      powerState: inputs.powerState ?? "stopped",
      migrationNotifyTimeoutSeconds: inputs.migrationNotifyTimeoutSeconds ?? null,
      migrationOnMissingAck: inputs.migrationOnMissingAck ?? null,
      haRestart: inputs.haRestart ?? null,
    },
  };
}

/** Jobs wait as long as the resource's `timeouts` allow; submissions carry idempotency keys so that retries are safe. */
function jobOptions(ctx: DynamicContext): { timeoutMs: number; idempotencyKey: () => string } {
  return { timeoutMs: ctx.timeout.ms, idempotencyKey: ctx.rt.newIdempotencyKey };
}

/** The dynamic provider of Vm; the SDK serializes it, so each method builds its own client. */
export const vmProvider: pulumi.dynamic.ResourceProvider<VmInputs, VmOutputs> = defineDynamicResource<VmInputs, VmOutputs>({
  noun: "VM",
  key: "vm",
  validate: "validateVmInputs",
  defaults: "withVmDefaults",
  inputKeys: INPUT_KEYS,
  replaceKeys: REPLACE_KEYS,
  // datastoreId left out means "the template's" and hostId "wherever it is": only given ones are compared (a changed hostId is a live migration).
  givenKeys: ["datastoreId", "hostId"],
  autoname: true,
  action: (verb, inputs, id) => {
    if (verb !== "create") return `${verb} VM ${id}`;
    if (inputs.instantCloneOf) return `start ${JSON.stringify(inputs.name)} as an instant clone of ${inputs.instantCloneOf}`;
    return inputs.forkOf ? `fork VM ${inputs.forkOf} into ${JSON.stringify(inputs.name)}` : `create VM ${JSON.stringify(inputs.name)}`;
  },

  async create(ctx, inputs) {
    const v = await ctx.rt.createVm(ctx.client, declaration(inputs), jobOptions(ctx));
    return { id: v.id, outs: await vmOutputs(ctx.client, inputs, v) };
  },

  async read(ctx, id, props) {
    // Both reads at once: a refresh pays one round trip per VM instead of two.
    const early = props.diskPath ? ctx.client.disks.chain(props.diskPath).catch(() => null) : null;
    const v = await ctx.client.vms.get(id);
    // Gone, or its disk vanished: the next update recreates it.
    if (!v || v.state === "drifted") return null;
    const outs = await vmOutputs(ctx.client, props, v, early);
    if (props.name !== undefined) return { props: outs };
    // An import or a `get`: hand back the inputs that declare this VM, so that they diff empty.
    const fromParent = Boolean(outs.forkOf || outs.instantCloneOf);
    const inputs: VmInputs = {
      name: v.name,
      templateId: outs.templateId,
      forkOf: outs.forkOf,
      instantCloneOf: outs.instantCloneOf,
      cloneMode: outs.cloneMode,
      datastoreId: fromParent ? null : v.datastore_id,
      powerState: outs.powerState,
      stopTimeoutSeconds: outs.stopTimeoutSeconds,
      hostId: outs.hostId,
      migrationNotifyTimeoutSeconds: outs.migrationNotifyTimeoutSeconds,
      migrationOnMissingAck: outs.migrationOnMissingAck,
      haRestart: outs.haRestart,
      ...(props.endpoint ? { endpoint: props.endpoint } : {}),
    };
    return { props: outs, inputs };
  },

  // powerState (a start or a stop), stopTimeoutSeconds, hostId (a live migration) and the migration policy change in place; every other VM input but the connection replaces it.
  async update(ctx, id, olds, news) {
    const v = await ctx.rt.updateVm(ctx.client, id, declaration(news), jobOptions(ctx));
    if (!v) throw ctx.rt.goneError("VM", id, `update VM ${id}`);
    return vmOutputs(ctx.client, { ...olds, ...news }, v);
  },

  async delete(ctx, id) {
    await ctx.client.vms.delete(id);
  },
});

/** Arguments of a Vm. */
export interface VmArgs extends ConnectionArgs {
  /**
   * Unique VM name: letters, digits, '.', '_', '-'; at most 63 characters. Default: the resource's logical name plus a random
   * suffix (`web` → `web-1a2b3c4`), made once and kept across updates. Changing it replaces the VM.
   */
  name?: pulumi.Input<string>;
  /** Id of the Template to clone; exactly one of `templateId` and `forkOf` is set. Changing it replaces the VM. */
  templateId?: pulumi.Input<string>;
  /**
   * Id of a Vm to fork instead of cloning a template: a running VM is stunned for a moment and the child starts where it was; a
   * stopped one forks its disks only. Exactly one of `templateId` and `forkOf` is set. Changing it replaces the VM.
   */
  forkOf?: pulumi.Input<string>;
  /**
   * Id of an InstantCloneParent to start this VM from instead: no boot, it continues where the parent was captured, on its own
   * overlay, the parent's RAM shared copy-on-write. Set `powerState: "running"` with it; excludes `templateId` and `forkOf`.
   * An instant clone removed outside Pulumi refreshes as gone and is cloned again. Changing it replaces the VM.
   */
  instantCloneOf?: pulumi.Input<string>;
  /** `pool` (default: a ready pool copy when there is one, else a full copy), `full` or `linked` (an overlay, on the template's datastore). Changing it replaces the VM. */
  cloneMode?: pulumi.Input<string>;
  /** Id of the Datastore for the VM's disk (default: the template's). Changing it replaces the VM. */
  datastoreId?: pulumi.Input<string>;
  /** `running` or `stopped` (default); changed in place. A VM whose QEMU died reads `stopped` on refresh, and the next update starts it. */
  powerState?: pulumi.Input<string>;
  /** Seconds a stop waits for the guest to power off (ACPI) before QEMU quits, 0–3600; unset uses the engine's default (30). Set it low for firmware-only VMs. Changed in place. */
  stopTimeoutSeconds?: pulumi.Input<number>;
  /**
   * Id of the host (engine agent) to run on, such as `local` (see getHost); default: the answering engine's host. A change live-migrates
   * the VM in place (a stopped VM with `powerState` running starts first; one that is to stay stopped is refused). A VM found on another
   * host than the one given diffs on refresh, and the update moves it back.
   */
  hostId?: pulumi.Input<string>;
  /** Seconds the guest gets to acknowledge a migration notice (0 to 3600; default 0: no notice). Changed in place. */
  migrationNotifyTimeoutSeconds?: pulumi.Input<number>;
  /** `abort` (the VM stays) or `proceed` (default) when the guest has not acknowledged by the deadline. Changed in place. */
  migrationOnMissingAck?: pulumi.Input<string>;
  /** Restart on another host when its host is lost, once that host is fenced; shared datastores only. Default false; changed in place. */
  haRestart?: pulumi.Input<boolean>;
  /** How long create (default 30m), update (10m) and delete (10m) wait for their jobs, such as `{ create: "45m" }`; see OperationTimeoutsArgs. */
  timeouts?: pulumi.Input<OperationTimeoutsArgs>;
}

/** A clonefleet VM cloned from a template. */
export class Vm extends pulumi.dynamic.Resource {
  /** The VM's name. */
  declare readonly name: pulumi.Output<string>;
  /** Id of the template it was cloned from (null for a fork). */
  declare readonly templateId: pulumi.Output<string | null>;
  /** Id of the VM it forks (null for a clone of a template). */
  declare readonly forkOf: pulumi.Output<string | null>;
  /** Id of the instant-clone parent it was started from (null otherwise). */
  declare readonly instantCloneOf: pulumi.Output<string | null>;
  /** running or stopped, checked against its QEMU process when read. */
  declare readonly powerState: pulumi.Output<string>;
  /** How its disk was asked for: pool, full or linked; null for a fork or an instant clone, whose disk comes from its parent. */
  declare readonly cloneMode: pulumi.Output<string | null>;
  /** Id of the datastore holding its disk. */
  declare readonly datastoreId: pulumi.Output<string>;
  /** Path of its top disk layer. */
  declare readonly diskPath: pulumi.Output<string>;
  /** How the disk was made: pool (a pool copy moved in), copy, linked or instant-clone. */
  declare readonly provisionedBy: pulumi.Output<string>;
  /** Layers in its disk chain (1 for an independent disk, 2 for a linked clone). */
  declare readonly chainDepth: pulumi.Output<number>;
  /** Its disk chain, top first: path and content ID of each layer. */
  declare readonly diskChain: pulumi.Output<VmDiskLayer[]>;
  /** The engine's view of the VM: ready, or crashed when its QEMU died without clonefleet stopping it. */
  declare readonly state: pulumi.Output<string>;
  /** Id of the VM it was forked from, null for a clone of a template. */
  declare readonly forkedFrom: pulumi.Output<string | null>;
  /** Seconds a stop waits for the guest before QEMU quits; null = the engine's default. */
  declare readonly stopTimeoutSeconds: pulumi.Output<number | null>;
  /** Id of the host it runs on, read from the engine. */
  declare readonly hostId: pulumi.Output<string>;
  /** up, or down when its host stopped heartbeating (its power state is then the last the inventory knew). */
  declare readonly hostState: pulumi.Output<string>;
  /** Seconds its guest gets to acknowledge a migration notice; 0 = no notice. */
  declare readonly migrationNotifyTimeoutSeconds: pulumi.Output<number>;
  /** abort or proceed when the acknowledgement does not come. */
  declare readonly migrationOnMissingAck: pulumi.Output<string>;
  /** Restarted on another host when its host is lost. */
  declare readonly haRestart: pulumi.Output<boolean>;
  /** Engine API URL the VM is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a VM; inputs are checked by the provider, and create waits for the clone job. */
  constructor(name: string, args: VmArgs = {}, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      vmProvider,
      name,
      {
        name: args.name,
        templateId: args.templateId,
        forkOf: args.forkOf,
        instantCloneOf: args.instantCloneOf,
        cloneMode: args.cloneMode,
        datastoreId: args.datastoreId,
        powerState: args.powerState,
        stopTimeoutSeconds: args.stopTimeoutSeconds,
        hostId: args.hostId,
        migrationNotifyTimeoutSeconds: args.migrationNotifyTimeoutSeconds,
        migrationOnMissingAck: args.migrationOnMissingAck,
        haRestart: args.haRestart,
        timeouts: args.timeouts,
        // A VM given no name (and not looked up by id) is named after this logical name.
        ...autonameInput(name, args, opts),
        endpoint: conn.endpoint,
        token: conn.token,
        diskPath: undefined,
        provisionedBy: undefined,
        chainDepth: undefined,
        diskChain: undefined,
        state: undefined,
        forkedFrom: undefined,
        hostState: undefined,
      },
      withSecretToken(opts),
      "clonefleet",
      "Vm",
    );
  }

  /** Looks up an existing VM by id (for example one made with the CLI); the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): Vm {
    return new Vm(name, { ...(connection ?? {}) } as VmArgs, { ...opts, id });
  }
}
