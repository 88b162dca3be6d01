/**
 * `clonefleet:Fleet`: a declared number of clones of a template spread over datastores (S1).
 * The provider object below is serialized by the SDK and runs in the dynamic-provider process:
 * it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { FleetApplyWire, FleetWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { connectionOf, defineDynamicResource } from "./provider-kit";
import type { OperationTimeoutsArgs } from "./timeouts";

/** Inputs of a Fleet as the provider sees them (plain values). */
export interface FleetInputs {
  templateId: string;
  size: number;
  namePrefix?: string | null;
  datastoreIds: string[];
  hostIds?: string[];
  cloneMode?: string;
  powerState?: string;
  membersHealthy?: boolean;
  timeouts?: OperationTimeoutsArgs;
  endpoint?: string;
  token?: string;
}

/** One member of a fleet. */
export interface FleetMember {
  id: string;
  name: string;
  datastoreId: string;
  /** The host it lives on. */
  hostId: string;
  diskPath: string;
  /** pool (a pool copy moved in), copy or linked. */
  provisionedBy: string;
}

/** Outputs of a Fleet as the provider stores them. */
export interface FleetOutputs extends FleetInputs {
  namePrefix: string;
  cloneMode: string;
  powerState: string;
  membersHealthy: boolean;
  /** Members whose QEMU process runs now. */
  membersRunning: number;
  vms: FleetMember[];
}

// Kept unexported: an exported const would be reached through `exports` from the provider's
// methods and drag the whole module into the serialized closure.
const REPLACE_KEYS = ["templateId", "namePrefix", "cloneMode"];
const INPUT_KEYS = ["templateId", "size", "datastoreIds", "hostIds", "cloneMode", "powerState", "membersHealthy"];

/** Inputs that cannot change in place; they match the Terraform schema's `replace` attributes of clonefleet_fleet. */
export const FLEET_REPLACE_KEYS: readonly string[] = Object.freeze([...REPLACE_KEYS]);

/** The outputs for a fleet the engine answered with. */
function fleetOutputs(inputs: Partial<FleetInputs>, f: FleetWire): FleetOutputs {
  return {
    ...connectionOf(inputs),
    templateId: f.template_id,
    size: f.size,
    namePrefix: f.name_prefix,
    datastoreIds: f.datastore_ids,
    ...(f.host_ids ? { hostIds: f.host_ids } : {}),
    cloneMode: f.clone_mode,
    // A fleet declared running reads stopped while a member's QEMU is down (it died): the next update powers it on.
    powerState: f.power_state === "running" && (f.members_running ?? 0) < f.vms.length ? "stopped" : f.power_state,
    // `applying` (another apply under way) is not drift; a missing or broken member is.
    membersHealthy: f.state !== "drifted",
    membersRunning: f.members_running ?? 0,
    vms: f.vms.map((m) => ({ id: m.id, name: m.name, datastoreId: m.datastore_id, hostId: m.host_id, diskPath: m.disk_path, provisionedBy: m.provisioned_by })),
  };
}

/** The fleet an apply left; an apply that could not make every member is an error. */
function appliedFleet(r: FleetApplyWire): FleetWire {
  if (r.fleet.state === "drifted") {
    throw new Error(`the apply of fleet ${r.fleet.id} finished with ${r.fleet.members_ready} of ${r.fleet.size} members whole; run pulumi up again to repair it`);
  }
  return r.fleet;
}

/** The fleet declaration the engine applies: the whole of it, every time. */
function fleetBody(inputs: FleetInputs, namePrefix: string | null | undefined) {
  return {
    template_id: inputs.templateId,
    size: inputs.size,
    datastore_ids: inputs.datastoreIds,
    ...(inputs.hostIds ? { host_ids: inputs.hostIds } : {}),
    ...(namePrefix ? { name_prefix: namePrefix } : {}),
    clone_mode: inputs.cloneMode ?? "pool",
    power_state: (inputs.powerState ?? "stopped") as "running" | "stopped",
  };
}

/** The dynamic provider of Fleet; the SDK serializes it, so each method builds its own client. */
export const fleetProvider: pulumi.dynamic.ResourceProvider<FleetInputs, FleetOutputs> = defineDynamicResource<FleetInputs, FleetOutputs>({
  noun: "fleet",
  key: "fleet",
  validate: "validateFleetInputs",
  defaults: "withFleetDefaults",
  inputKeys: INPUT_KEYS,
  // Members are named after the prefix: the old fleet goes first (the kit's default).
  replaceKeys: REPLACE_KEYS,
  // namePrefix left out means "the template's name", which the outputs hold: only a given one is compared.
  givenKeys: ["namePrefix"],
  action: (verb, inputs, id) => (verb === "create" ? `create fleet of template ${inputs.templateId}` : `${verb} fleet ${id}`),

  async create(ctx, inputs) {
    const job = await ctx.client.fleets.create(fleetBody(inputs, inputs.namePrefix), ctx.rt.newIdempotencyKey());
    const f = appliedFleet((await ctx.client.waitJob(job.id, { timeoutMs: ctx.timeout.ms })).result as FleetApplyWire);
    return { id: f.id, outs: fleetOutputs(inputs, f) };
  },

  async read(ctx, id, props) {
    const f = await ctx.client.fleets.get(id);
    if (!f) return null;
    // A missing member reads back with membersHealthy false: the next `pulumi up` plans an update that remakes it.
    const outs = fleetOutputs(props, f);
    if (props.templateId !== undefined) return { props: outs };
    // An import or `get` starts from nothing but the id: hand Pulumi the inputs as well.
    const inputs: FleetInputs = {
      templateId: f.template_id,
      size: f.size,
      namePrefix: f.name_prefix,
      datastoreIds: f.datastore_ids,
      ...(f.host_ids ? { hostIds: f.host_ids } : {}),
      cloneMode: f.clone_mode,
      powerState: f.power_state,
      ...connectionOf({ endpoint: props.endpoint }),
    };
    return { props: outs, inputs };
  },

  async update(ctx, id, olds, news) {
    if (!(await ctx.client.fleets.get(id))) throw ctx.rt.goneError("fleet", id, `update fleet ${id}`);
    // The whole declaration again: the engine adds, removes and remakes members to match it.
    const job = await ctx.client.fleets.update(id, fleetBody(news, olds.namePrefix), ctx.rt.newIdempotencyKey());
    const f = appliedFleet((await ctx.client.waitJob(job.id, { timeoutMs: ctx.timeout.ms })).result as FleetApplyWire);
    return fleetOutputs({ ...olds, ...news }, f);
  },

  async delete(ctx, id) {
    // The engine stops running members along with their disks.
    await ctx.client.fleets.delete(id);
  },
});

/** Arguments of a Fleet. */
export interface FleetArgs extends ConnectionArgs {
  /** Id of the Template the members are cloned from. Changing it replaces the fleet. */
  templateId: pulumi.Input<string>;
  /** Members wanted (0–1024): growing adds members, shrinking removes the newest. */
  size: pulumi.Input<number>;
  /** Members are named `<namePrefix>-<n>` (default: the template's name). Changing it replaces the fleet. */
  namePrefix?: pulumi.Input<string>;
  /** Ids of the Datastores new members are placed on; a change applies to members added from then on. */
  datastoreIds: pulumi.Input<pulumi.Input<string>[]>;
  /** Hosts members may live on, spread by members and running VMs; left out: every host that is up at an apply. Changed in place (for members added from then on). */
  hostIds?: pulumi.Input<pulumi.Input<string>[]>;
  /** `pool` (default), `full` or `linked`. Changing it replaces the fleet. */
  cloneMode?: pulumi.Input<string>;
  /** `running` powers every member on after each apply; `stopped` (default) leaves members as they are. Changed in place. */
  powerState?: pulumi.Input<string>;
  /** Leave it unset: the provider reads false while a member is missing, and the next update remakes it. */
  membersHealthy?: pulumi.Input<boolean>;
  /** How long create and update (default 30m each) and delete (10m) wait for their jobs, such as `{ update: "1h" }`; see OperationTimeoutsArgs. */
  timeouts?: pulumi.Input<OperationTimeoutsArgs>;
}

/** A clonefleet fleet: clones of a template spread over datastores, kept at their declared number. */
export class Fleet extends pulumi.dynamic.Resource {
  /** Id of the template the members are cloned from. */
  declare readonly templateId: pulumi.Output<string>;
  /** Members declared. */
  declare readonly size: pulumi.Output<number>;
  /** Members are named `<namePrefix>-<n>`. */
  declare readonly namePrefix: pulumi.Output<string>;
  /** Datastores new members are placed on. */
  declare readonly datastoreIds: pulumi.Output<string[]>;
  /** Hosts members may live on; undefined: every host that is up. */
  declare readonly hostIds: pulumi.Output<string[] | undefined>;
  /** How members' disks are made: pool, full or linked. */
  declare readonly cloneMode: pulumi.Output<string>;
  /** running (members are powered on after each apply) or stopped. */
  declare readonly powerState: pulumi.Output<string>;
  /** False while a member is missing or its disk vanished; the next update remakes it. */
  declare readonly membersHealthy: pulumi.Output<boolean>;
  /** Members whose QEMU process runs now. */
  declare readonly membersRunning: pulumi.Output<number>;
  /** The members, oldest first. */
  declare readonly vms: pulumi.Output<FleetMember[]>;
  /** Engine API URL the fleet is managed through. */
  declare readonly endpoint: pulumi.Output<string>;
  /** API token (secret). */
  declare readonly token: pulumi.Output<string | undefined>;

  /** Declares a fleet; inputs are checked by the provider, and create and update wait for the apply job. */
  constructor(name: string, args: FleetArgs, opts?: pulumi.CustomResourceOptions) {
    const conn = resolveConnection(args);
    super(
      fleetProvider,
      name,
      {
        templateId: args.templateId,
        size: args.size,
        namePrefix: args.namePrefix,
        datastoreIds: args.datastoreIds,
        hostIds: args.hostIds,
        cloneMode: args.cloneMode,
        powerState: args.powerState,
        membersHealthy: args.membersHealthy,
        timeouts: args.timeouts,
        endpoint: conn.endpoint,
        token: conn.token,
        membersRunning: undefined,
        vms: undefined,
      },
      withSecretToken(opts),
      "clonefleet",
      "Fleet",
    );
  }

  /** Looks up an existing fleet by id (for example one made with the CLI); the state comes from the engine. */
  static get(name: string, id: pulumi.Input<pulumi.ID>, connection?: ConnectionArgs, opts?: pulumi.CustomResourceOptions): Fleet {
    return new Fleet(name, { ...(connection ?? {}) } as FleetArgs, { ...opts, id });
  }
}
