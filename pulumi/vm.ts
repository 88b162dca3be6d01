/**
 * `clonefleet:Vm`: one VM cloned from a template by a pool copy, a full copy or a linked
 * overlay (S1), forked from another VM (S5), or started as an instant clone of a parent (S3); powered on or off in place, moved to
 * another host by a live migration and given its migration policy in place (S6). The provider object below is serialized by the SDK and runs in the
 * dynamic-provider process: it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ClonefleetClient, InstantCloneResultWire, VmWire } from "../engine/client";
import type { PlacementWant } from "../engine/client/placement";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { changedKeys, connectionOf, loadRuntime, withConnectionKeys } from "./provider-kit";

/** Inputs of a Vm as the provider sees them (plain values). */
export interface VmInputs {
  name: string;
  templateId?: string | null;
  forkOf?: string | null;
  instantCloneOf?: string | null;
  cloneMode?: string;
  datastoreId?: string | null;
  powerState?: string;
  stopTimeoutSeconds?: number | null;
  hostId?: string | null;
  migrationNotifyTimeoutSeconds?: number;
  migrationOnMissingAck?: string;
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
  cloneMode: string;
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
  migrationNotifyTimeoutSeconds: number;
  migrationOnMissingAck: string;
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["name", "templateId", "forkOf", "instantCloneOf", "cloneMode", "datastoreId"];
const INPUT_KEYS = ["name", "templateId", "forkOf", "instantCloneOf", "cloneMode", "powerState", "stopTimeoutSeconds", "migrationNotifyTimeoutSeconds", "migrationOnMissingAck"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_vm. */
export const VM_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

/** Inputs that change in place (hostId by a live migration); they match clonefleet_vm's settable attributes that do not force replacement. */
export const VM_IN_PLACE_KEYS: readonly string[] = Object.freeze([...INPUT_KEYS.filter((k) => !REPLACE_KEYS.includes(k)), "hostId"]);

/** The outputs for a VM the engine answered with, its chain's content IDs read from the engine. */
async function vmOutputs(client: ClonefleetClient, inputs: Partial<VmInputs>, v: VmWire): Promise<VmOutputs> {
  const chain = await client.disks.chain(v.disk_path);
  return {
    ...connectionOf(inputs),
    name: v.name,
    // A fork or an instant clone names its parent and no template (its parent's template is not its input).
    templateId: v.forked_from || v.instant_clone_of ? null : (v.template_id ?? inputs.templateId ?? null),
    forkOf: v.forked_from ?? null,
    instantCloneOf: v.instant_clone_of ?? null,
    cloneMode: inputs.cloneMode ?? v.clone_mode ?? "pool",
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
    migrationNotifyTimeoutSeconds: v.migration_notify_timeout_seconds ?? 0,
    migrationOnMissingAck: v.migration_on_missing_ack ?? "proceed",
  };
}

/** Sets the VM's stop timeout to `want` (null or absent = the engine's default) when it differs; answers the VM. */
async function setStopTimeout(client: ClonefleetClient, v: VmWire, want: number | null | undefined): Promise<VmWire> {
  if ((v.stop_timeout_seconds ?? null) === (want ?? null)) return v;
  return client.vms.update(v.id, { stop_timeout_seconds: want ?? null });
}

/** The placement, power and migration policy the inputs declare; no hostId leaves the VM on its host. */
function placementWant(inputs: Partial<VmInputs>): PlacementWant {
  return {
    hostId: inputs.hostId ?? null,
    powerState: inputs.powerState ?? "stopped",
    migrationNotifyTimeoutSeconds: inputs.migrationNotifyTimeoutSeconds ?? null,
    migrationOnMissingAck: inputs.migrationOnMissingAck ?? null,
  };
}

/**
 * Brings VM `v` to the inputs' policy, host (a live migration, waited for) and power; an unknown
 * host, or a stopped VM that is to move but stay stopped, is refused before any change.
 */
async function place(rt: typeof import("./provider-runtime"), client: ClonefleetClient, v: VmWire, inputs: Partial<VmInputs>): Promise<VmWire> {
  const want = placementWant(inputs);
  const steps = rt.planPlacement(v, want);
  if (steps.some((s) => s.kind === "migrate")) await rt.checkHostKnown(client, want.hostId!);
  return rt.applyPlacement(client, v, steps);
}

/** The dynamic provider of Vm; the SDK serializes it, so each method builds its own client. */
export const vmProvider: pulumi.dynamic.ResourceProvider<VmInputs, VmOutputs> = {
  async check(_olds, news) {
    const rt = loadRuntime();
    return { inputs: rt.withVmDefaults({ ...news }), failures: rt.validateVmInputs({ ...news }) };
  },

  async diff(_id, olds, news) {
    const changes = changedKeys({ ...olds }, { ...news }, withConnectionKeys(INPUT_KEYS));
    // datastoreId left out means "the template's", which the outputs hold: only a given one is compared.
    if (news.datastoreId !== undefined && news.datastoreId !== null) changes.push(...changedKeys({ ...olds }, { ...news }, ["datastoreId"]));
    // hostId left out means "wherever it is"; a given one differing from the host it is on is a live migration (in place).
    if (news.hostId !== undefined && news.hostId !== null) changes.push(...changedKeys({ ...olds }, { ...news }, ["hostId"]));
    const replaces = changes.filter((k) => REPLACE_KEYS.includes(k));
    // VM names are unique: the old one goes first.
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const rt = loadRuntime();
    const client = rt.connect(inputs);
    const action = inputs.instantCloneOf
      ? `start ${JSON.stringify(inputs.name)} as an instant clone of ${inputs.instantCloneOf}`
      : inputs.forkOf
        ? `fork VM ${inputs.forkOf} into ${JSON.stringify(inputs.name)}`
        : `create VM ${JSON.stringify(inputs.name)}`;
    try {
      // An unknown host is refused before anything is made.
      if (inputs.hostId) await rt.checkHostKnown(client, inputs.hostId);
      // A fork starts on its parent's host: refuse now a child that would have to move while stopped.
      const parent = inputs.forkOf ? await client.vms.get(inputs.forkOf) : null;
      if (parent) rt.planPlacement({ ...parent, name: inputs.name }, placementWant(inputs));
      // A drifted record of the same name (its disk vanished) would block the name.
      const stale = (await client.vms.list()).find((v) => v.name === inputs.name && v.state === "drifted" && v.fleet_id === null);
      if (stale) await client.vms.delete(stale.id);
      if (inputs.instantCloneOf) {
        const parentId = inputs.instantCloneOf;
        const cloneJob = await client.parents.clone(parentId, { names: [inputs.name] }, rt.newIdempotencyKey()).catch((err: unknown) => {
          // The engine names the parent of /parents/{id}/clones `id` and the child `names`; here they are instantCloneOf and name.
          throw rt.renameField(rt.renameField(rt.renameField(err, "names", "name"), "names[0]", "name"), "id", "instant_clone_of");
        });
        const child = ((await client.waitJob(cloneJob.id)).result as InstantCloneResultWire).children[0];
        const set = await setStopTimeout(client, child, inputs.stopTimeoutSeconds);
        return { id: child.id, outs: await vmOutputs(client, inputs, await place(rt, client, set, inputs)) };
      }
      const job = inputs.forkOf
        ? await client.vms.fork(inputs.forkOf, { name: inputs.name }, rt.newIdempotencyKey())
        : await client.vms.create(
            {
              name: inputs.name,
              template_id: inputs.templateId!,
              ...(inputs.datastoreId ? { datastore_id: inputs.datastoreId } : {}),
              clone_mode: inputs.cloneMode ?? "pool",
              ...(inputs.hostId ? { host_id: inputs.hostId } : {}),
              ...(typeof inputs.migrationNotifyTimeoutSeconds === "number" ? { migration_notify_timeout_seconds: inputs.migrationNotifyTimeoutSeconds } : {}),
              ...(inputs.migrationOnMissingAck ? { migration_on_missing_ack: inputs.migrationOnMissingAck } : {}),
            },
            rt.newIdempotencyKey(),
          );
      const done = await client.waitJob(job.id);
      const v = (done.result as VmWire | null) ?? (done.target_id ? await client.vms.get(done.target_id) : null);
      if (!v) throw new Error(`job ${done.id} succeeded without naming the VM it made`);
      const set = await setStopTimeout(client, v, inputs.stopTimeoutSeconds);
      return { id: v.id, outs: await vmOutputs(client, inputs, await place(rt, client, set, inputs)) };
    } catch (err) {
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async read(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      const v = await client.vms.get(id);
      // Gone, or its disk vanished: an empty result tells Pulumi so, and the next update recreates it.
      if (!v || v.state === "drifted") return {};
      const prior = (props ?? {}) as Partial<VmInputs>;
      const outs = await vmOutputs(client, prior, v);
      if (prior.name === undefined) {
        const inputs: VmInputs = {
          name: v.name,
          templateId: outs.templateId,
          forkOf: outs.forkOf,
          instantCloneOf: outs.instantCloneOf,
          cloneMode: outs.cloneMode,
          datastoreId: outs.forkOf || outs.instantCloneOf ? null : v.datastore_id,
          powerState: outs.powerState,
          stopTimeoutSeconds: outs.stopTimeoutSeconds,
          hostId: outs.hostId,
          migrationNotifyTimeoutSeconds: outs.migrationNotifyTimeoutSeconds,
          migrationOnMissingAck: outs.migrationOnMissingAck,
          ...connectionOf({ endpoint: prior.endpoint }),
        };
        return { id, props: outs, inputs: inputs as VmOutputs };
      }
      return { id, props: outs };
    } catch (err) {
      throw rt.providerError(err, `read VM ${id}`, client.endpoint);
    }
  },

  async update(id, olds, news) {
    // powerState (a start or a stop), stopTimeoutSeconds, hostId (a live migration) and the migration policy change in place; every other VM input but the connection replaces it.
    const rt = loadRuntime();
    const client = rt.connect(news);
    const action = `update VM ${id}`;
    try {
      const v = await client.vms.get(id);
      if (!v || v.state === "drifted") throw rt.goneError("VM", id, action);
      // The timeout first: a stop in the same update waits as long as the new one says.
      const set = await setStopTimeout(client, v, news.stopTimeoutSeconds);
      return { outs: await vmOutputs(client, { ...olds, ...news }, await place(rt, client, set, news)) };
    } catch (err) {
      if (err instanceof Error && /^CF_[A-Z_]+: /.test(err.message)) throw err;
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async delete(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      await client.vms.delete(id);
    } catch (err) {
      // Already gone is what delete wants.
      if ((err as { status?: number }).status === 404) return;
      throw rt.providerError(err, `delete VM ${id}`, client.endpoint);
    }
  },
};

/** Arguments of a Vm. */
export interface VmArgs extends ConnectionArgs {
  /** Unique VM name: letters, digits, '.', '_', '-'; at most 63 characters. Changing it replaces the VM. */
  name: pulumi.Input<string>;
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
  /** How its disk was asked for: pool, full or linked. */
  declare readonly cloneMode: pulumi.Output<string>;
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
  /** Seconds its guest gets to acknowledge a migration notice; 0 = no notice. */
  declare readonly migrationNotifyTimeoutSeconds: pulumi.Output<number>;
  /** abort or proceed when the acknowledgement does not come. */
  declare readonly migrationOnMissingAck: pulumi.Output<string>;
  /** Engine API URL the VM is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a VM; inputs are checked by the provider, and create waits for the clone job. */
  constructor(name: string, args: VmArgs, opts?: pulumi.CustomResourceOptions) {
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
        endpoint: conn.endpoint,
        token: conn.token,
        diskPath: undefined,
        provisionedBy: undefined,
        chainDepth: undefined,
        diskChain: undefined,
        state: undefined,
        forkedFrom: undefined,
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
