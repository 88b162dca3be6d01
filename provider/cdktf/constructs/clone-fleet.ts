import { Token } from "cdktf";
import { Construct } from "constructs";
import { cloneFleetPools, cloneFleetProblems as problemsOf } from "../../../engine/client/rules/clone-fleet";
import { datastore, diskPool, fleet } from "../gen/providers/clonefleet";

/** The clone modes a fleet accepts. */
export type CloneMode = "pool" | "full" | "linked";

/** Props of a CloneFleet: which template, on which datastores, how many ready copies and clones. */
export interface CloneFleetProps {
  /** Id of the template to clone (a `template.Template`'s `id`, or a literal `tpl-…`). */
  readonly templateId: string;
  /** Datastores to keep a pool on and spread members over: ids, or datastore constructs. */
  readonly datastores: ReadonlyArray<string | datastore.Datastore>;
  /** Ready copies to keep in the pool on each datastore (0–1024); 0 makes no pools. */
  readonly poolSize: number;
  /** Members of the fleet (0–1024). */
  readonly fleetSize: number;
  /** Members are named `<namePrefix>-<n>` (default: the template's name). */
  readonly namePrefix?: string;
  /** How members' disks are made (default `pool`). */
  readonly cloneMode?: CloneMode;
  /** Passed to every resource (for example a provider alias). */
  readonly provider?: fleet.FleetConfig["provider"];
}

/**
 * "Keep this many clones of this template on these datastores, fed by pools": a disk pool on
 * each datastore and a fleet over all of them, made after the pools are full so that members
 * get their disks by a rename. Bad props are reported together when the stack is synthesized.
 */
export class CloneFleet extends Construct {
  /** The pool on each datastore, in the order of `datastores` (empty when `poolSize` is 0). */
  readonly pools: readonly diskPool.DiskPool[];
  readonly fleet: fleet.Fleet;

  constructor(scope: Construct, id: string, props: CloneFleetProps) {
    super(scope, id);
    this.node.addValidation({ validate: () => cloneFleetProblems(props) });
    const datastoreIds = props.datastores.map((d) => (typeof d === "string" ? d : d.id));
    this.pools = cloneFleetPools({ datastores: datastoreIds, poolSize: props.poolSize }, (v) => Token.isUnresolved(v)).map(
      (p) => new diskPool.DiskPool(this, p.key, { templateId: props.templateId, datastoreId: p.datastore, size: props.poolSize, provider: props.provider }),
    );
    this.fleet = new fleet.Fleet(this, "fleet", {
      templateId: props.templateId,
      size: props.fleetSize,
      datastoreIds,
      namePrefix: props.namePrefix,
      cloneMode: props.cloneMode,
      provider: props.provider,
      dependsOn: [...this.pools],
    });
  }
}

/** Every problem of a CloneFleet's props, each naming the prop; empty when all is well. Unresolved tokens are left for the apply. */
export function cloneFleetProblems(props: CloneFleetProps): string[] {
  return problemsOf(props, (v) => Token.isUnresolved(v));
}
