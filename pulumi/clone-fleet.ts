/**
 * `clonefleet:index:CloneFleet`: a component that wires a disk pool on each datastore and a
 * fleet over all of them, made once the pools are full so that members get their disks by a
 * rename. Runs in the program process; its children are the DiskPool and Fleet resources.
 */
import * as pulumi from "@pulumi/pulumi";
import { cloneFleetPools, cloneFleetProblems } from "../engine/client/rules/clone-fleet";
import type { ConnectionArgs } from "./connection";
import { Datastore } from "./datastore";
import { DiskPool } from "./disk-pool";
import { Fleet, type FleetMember } from "./fleet";

/** Arguments of a CloneFleet. */
export interface CloneFleetArgs extends ConnectionArgs {
  /** Id of the Template to clone. */
  templateId: pulumi.Input<string>;
  /** Datastores to keep a pool on and spread members over: Datastore resources or their ids. */
  datastores: ReadonlyArray<Datastore | pulumi.Input<string>>;
  /** Ready copies to keep in the pool on each datastore (0–1024); 0 makes no pools. */
  poolSize: number;
  /** Members of the fleet (0–1024). */
  fleetSize: pulumi.Input<number>;
  /** Members are named `<namePrefix>-<n>` (default: the template's name). */
  namePrefix?: pulumi.Input<string>;
  /** How members' disks are made: `pool` (default), `full` or `linked`. */
  cloneMode?: pulumi.Input<string>;
}

/**
 * "Keep this many clones of this template on these datastores, fed by pools" in one call.
 * Throws at construction, naming each argument at fault, when plain arguments are wrong.
 */
export class CloneFleet extends pulumi.ComponentResource {
  /** The pool on each datastore, in the order of `datastores` (empty when `poolSize` is 0). */
  readonly pools: DiskPool[];
  readonly fleet: Fleet;
  /** The fleet's members, oldest first. */
  readonly vms: pulumi.Output<FleetMember[]>;

  constructor(name: string, args: CloneFleetArgs, opts?: pulumi.ComponentResourceOptions) {
    super("clonefleet:index:CloneFleet", name, {}, opts);
    const problems = cloneFleetArgsProblems(args);
    if (problems.length > 0) throw new Error(`CloneFleet ${name}: ${problems.join("; ")}`);
    const connection: ConnectionArgs = { endpoint: args.endpoint, token: args.token };
    const datastoreIds = args.datastores.map((d) => (d instanceof Datastore ? d.id : pulumi.output(d)));
    this.pools = cloneFleetPools({ datastores: datastoreIds, poolSize: args.poolSize }, notPlain).map(
      (p) => new DiskPool(`${name}-${p.key}`, { ...connection, templateId: args.templateId, datastoreId: p.datastore, size: args.poolSize }, { parent: this }),
    );
    this.fleet = new Fleet(
      `${name}-fleet`,
      { ...connection, templateId: args.templateId, size: args.fleetSize, datastoreIds, namePrefix: args.namePrefix, cloneMode: args.cloneMode },
      { parent: this, dependsOn: this.pools },
    );
    this.vms = this.fleet.vms;
    this.registerOutputs({ poolIds: this.pools.map((p) => p.id), fleetId: this.fleet.id, vms: this.vms });
  }
}

/** Every problem of a CloneFleet's plain arguments, each naming the argument; Outputs are left for the providers' checks. */
export function cloneFleetArgsProblems(args: CloneFleetArgs): string[] {
  return cloneFleetProblems(args, notPlain);
}

/** Outputs and promises are not known while the program runs. */
function notPlain(v: unknown): boolean {
  return pulumi.Output.isInstance(v) || v instanceof Promise;
}
