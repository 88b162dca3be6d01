import { Token } from "cdktf";
import { Construct } from "constructs";
import { FLEET_DATASTORES_MAX, FLEET_SIZE_RANGE, intRangeProblem, namePrefixProblem, POOL_SIZE_RANGE } from "../../../engine/model/rules";
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
    this.pools =
      Token.isUnresolved(props.poolSize) || props.poolSize > 0
        ? datastoreIds.map(
            (datastoreId, i) =>
              new diskPool.DiskPool(this, `pool-${i}`, { templateId: props.templateId, datastoreId, size: props.poolSize, provider: props.provider }),
          )
        : [];
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
  const problems: string[] = [];
  const add = (where: string, problem: string | null) => {
    if (problem) problems.push(`${where} ${problem}`);
  };
  const literal = (v: unknown): boolean => !Token.isUnresolved(v);
  if (literal(props.templateId) && (typeof props.templateId !== "string" || props.templateId === "")) problems.push("templateId must be a template id");
  if (props.datastores.length === 0) problems.push("datastores must list at least one datastore");
  if (props.datastores.length > FLEET_DATASTORES_MAX) problems.push(`datastores must list at most ${FLEET_DATASTORES_MAX} datastores`);
  props.datastores.forEach((d, i) => {
    if (typeof d !== "string") {
      if (props.datastores.indexOf(d) < i) problems.push(`datastores[${i}] repeats datastores[${props.datastores.indexOf(d)}]`);
      return;
    }
    if (!literal(d)) return;
    if (d === "") problems.push(`datastores[${i}] must not be empty`);
    else if (props.datastores.indexOf(d) < i) problems.push(`datastores[${i}] repeats ${d}`);
  });
  if (literal(props.poolSize)) add("poolSize", intRangeProblem(props.poolSize, POOL_SIZE_RANGE));
  if (literal(props.fleetSize)) add("fleetSize", intRangeProblem(props.fleetSize, FLEET_SIZE_RANGE));
  if (props.namePrefix !== undefined && literal(props.namePrefix)) add("namePrefix", namePrefixProblem(props.namePrefix));
  if (props.cloneMode !== undefined && !["pool", "full", "linked"].includes(props.cloneMode)) {
    problems.push(`cloneMode must be one of pool, full, linked (got ${JSON.stringify(props.cloneMode)})`);
  }
  return problems;
}
