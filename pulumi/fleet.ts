/**
 * `clonefleet:Fleet`: a declared number of clones of a template spread over datastores (S1).
 * The provider object below is serialized by the SDK and runs in the dynamic-provider process:
 * it captures only pure helpers and requires the runtime it needs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { FleetApplyWire, FleetWire } from "../engine/client";
import { resolveConnection, withSecretToken, type ConnectionArgs } from "./connection";
import { changedKeys, checkInputs, connectionOf, loadRuntime, withConnectionKeys } from "./provider-kit";

/** Inputs of a Fleet as the provider sees them (plain values). */
export interface FleetInputs {
  templateId: string;
  size: number;
  namePrefix?: string | null;
  datastoreIds: string[];
  cloneMode?: string;
  powerState?: string;
  membersHealthy?: boolean;
  endpoint?: string;
  token?: string;
}

/** One member of a fleet. */
export interface FleetMember {
  id: string;
  name: string;
  datastoreId: string;
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
const INPUT_KEYS = ["templateId", "size", "datastoreIds", "cloneMode", "powerState", "membersHealthy"];

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
    cloneMode: f.clone_mode,
    // A fleet declared running reads stopped while a member's QEMU is down (it died): the next update powers it on.
    powerState: f.power_state === "running" && (f.members_running ?? 0) < f.vms.length ? "stopped" : f.power_state,
    // `applying` (another apply under way) is not drift; a missing or broken member is.
    membersHealthy: f.state !== "drifted",
    membersRunning: f.members_running ?? 0,
    vms: f.vms.map((m) => ({ id: m.id, name: m.name, datastoreId: m.datastore_id, diskPath: m.disk_path, provisionedBy: m.provisioned_by })),
  };
}

/** The fleet an apply left; an apply that could not make every member is an error. */
function appliedFleet(r: FleetApplyWire): FleetWire {
  if (r.fleet.state === "drifted") {
    throw new Error(`the apply of fleet ${r.fleet.id} finished with ${r.fleet.members_ready} of ${r.fleet.size} members whole; run pulumi up again to repair it`);
  }
  return r.fleet;
}

/** The dynamic provider of Fleet; the SDK serializes it, so each method builds its own client. */
export const fleetProvider: pulumi.dynamic.ResourceProvider<FleetInputs, FleetOutputs> = {
  async check(olds, news) {
    const checked = await checkInputs({ validate: "validateFleetInputs", defaults: "withFleetDefaults", key: "fleet" }, { ...olds }, { ...news });
    return { inputs: checked.inputs as unknown as typeof news, failures: checked.failures };
  },

  async diff(_id, olds, news) {
    const changes = changedKeys({ ...olds }, { ...news }, withConnectionKeys(INPUT_KEYS));
    // namePrefix left out means "the template's name", which the outputs hold: only a given one is compared.
    if (news.namePrefix !== undefined && news.namePrefix !== null) changes.push(...changedKeys({ ...olds }, { ...news }, ["namePrefix"]));
    const replaces = changes.filter((k) => REPLACE_KEYS.includes(k));
    // Members are named after the prefix: the old fleet goes first.
    return { changes: changes.length > 0, replaces, deleteBeforeReplace: replaces.length > 0 };
  },

  async create(inputs) {
    const rt = loadRuntime();
    const client = rt.connect(inputs);
    const action = `create fleet of template ${inputs.templateId}`;
    try {
      const job = await client.fleets.create(
        {
          template_id: inputs.templateId,
          size: inputs.size,
          datastore_ids: inputs.datastoreIds,
          ...(inputs.namePrefix ? { name_prefix: inputs.namePrefix } : {}),
          clone_mode: inputs.cloneMode ?? "pool",
          power_state: (inputs.powerState ?? "stopped") as "running" | "stopped",
        },
        rt.newIdempotencyKey(),
      );
      const f = appliedFleet((await client.waitJob(job.id)).result as FleetApplyWire);
      return { id: f.id, outs: fleetOutputs(inputs, f) };
    } catch (err) {
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async read(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    const f = await client.fleets.get(id).catch((err: unknown) => {
      throw rt.providerError(err, `read fleet ${id}`, client.endpoint);
    });
    // Gone on the engine: an empty result tells Pulumi so, and the next update recreates it.
    if (!f) return {};
    const prior = (props ?? {}) as Partial<FleetInputs>;
    // A missing member reads back with membersHealthy false: the next `pulumi up` plans an update that remakes it.
    const outs = fleetOutputs(prior, f);
    if (prior.templateId === undefined) {
      const inputs: FleetInputs = {
        templateId: f.template_id,
        size: f.size,
        namePrefix: f.name_prefix,
        datastoreIds: f.datastore_ids,
        cloneMode: f.clone_mode,
        powerState: f.power_state,
        ...connectionOf({ endpoint: prior.endpoint }),
      };
      return { id, props: outs, inputs: inputs as FleetOutputs };
    }
    return { id, props: outs };
  },

  async update(id, olds, news) {
    const rt = loadRuntime();
    const client = rt.connect(news);
    const action = `update fleet ${id}`;
    try {
      if (!(await client.fleets.get(id))) throw rt.goneError("fleet", id, action);
      // The whole declaration again: the engine adds, removes and remakes members to match it.
      const job = await client.fleets.update(
        id,
        {
          template_id: news.templateId,
          size: news.size,
          datastore_ids: news.datastoreIds,
          name_prefix: olds.namePrefix,
          clone_mode: news.cloneMode ?? "pool",
          power_state: (news.powerState ?? "stopped") as "running" | "stopped",
        },
        rt.newIdempotencyKey(),
      );
      const f = appliedFleet((await client.waitJob(job.id)).result as FleetApplyWire);
      return { outs: fleetOutputs({ ...olds, ...news }, f) };
    } catch (err) {
      if (err instanceof Error && /^CF_[A-Z_]+: /.test(err.message)) throw err;
      throw rt.providerError(err, action, client.endpoint);
    }
  },

  async delete(id, props) {
    const rt = loadRuntime();
    const client = rt.connect(props);
    try {
      // The engine stops running members along with their disks.
      await client.fleets.delete(id);
    } catch (err) {
      // Already gone is what delete wants.
      if ((err as { status?: number }).status === 404) return;
      throw rt.providerError(err, `delete fleet ${id}`, client.endpoint);
    }
  },
};

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
  /** `pool` (default), `full` or `linked`. Changing it replaces the fleet. */
  cloneMode?: pulumi.Input<string>;
  /** `running` powers every member on after each apply; `stopped` (default) leaves members as they are. Changed in place. */
  powerState?: pulumi.Input<string>;
  /** Leave it unset: the provider reads false while a member is missing, and the next update remakes it. */
  membersHealthy?: pulumi.Input<boolean>;
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
        cloneMode: args.cloneMode,
        powerState: args.powerState,
        membersHealthy: args.membersHealthy,
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
