/**
 * The plan of a CloneFleet, the "pools on each datastore plus a fleet over them" construct both
 * faces offer (a CDKTF construct, a Pulumi component): which pools to declare and what is wrong
 * with the arguments. Values a face cannot read yet (CDKTF tokens, Pulumi outputs) are left for
 * the resources' own checks; a datastore given as a resource object counts by identity.
 */
import { FLEET_DATASTORES_MAX, FLEET_SIZE_RANGE, intRangeProblem, namePrefixProblem, POOL_SIZE_RANGE } from "../../model/rules";
import { CLONE_MODES, oneOfProblem } from "./values";

/** A CloneFleet's arguments as either face takes them; datastores are ids or resource objects. */
export interface CloneFleetArgsView {
  templateId: unknown;
  datastores: readonly unknown[];
  poolSize: unknown;
  fleetSize: unknown;
  namePrefix?: unknown;
  cloneMode?: unknown;
}

/** Every problem of the arguments, each naming the argument ("poolSize must be …"); empty when all is well. */
export function cloneFleetProblems(args: CloneFleetArgsView, isUnknown: (v: unknown) => boolean): string[] {
  const problems: string[] = [];
  const add = (where: string, problem: string | null) => {
    if (problem) problems.push(`${where} ${problem}`);
  };
  const known = (v: unknown) => v !== undefined && !isUnknown(v);
  if (known(args.templateId) && (typeof args.templateId !== "string" || args.templateId === "")) problems.push("templateId must be a template id");
  if (args.datastores.length === 0) problems.push("datastores must list at least one datastore");
  if (args.datastores.length > FLEET_DATASTORES_MAX) problems.push(`datastores must list at most ${FLEET_DATASTORES_MAX} datastores`);
  args.datastores.forEach((d, i) => {
    const first = args.datastores.indexOf(d);
    if (typeof d !== "string") {
      // A resource object (or an output of one): the same object twice is the same datastore.
      if (first < i && typeof d === "object" && d !== null) problems.push(`datastores[${i}] repeats datastores[${first}]`);
      return;
    }
    if (isUnknown(d)) return;
    if (d === "") problems.push(`datastores[${i}] must not be empty`);
    else if (first < i) problems.push(`datastores[${i}] repeats ${d}`);
  });
  if (known(args.poolSize)) add("poolSize", intRangeProblem(args.poolSize, POOL_SIZE_RANGE));
  if (known(args.fleetSize)) add("fleetSize", intRangeProblem(args.fleetSize, FLEET_SIZE_RANGE));
  if (known(args.namePrefix)) add("namePrefix", namePrefixProblem(args.namePrefix));
  if (known(args.cloneMode)) add("cloneMode", oneOfProblem(CLONE_MODES)(args.cloneMode));
  return problems;
}

/**
 * The pools to declare, one per datastore in order, each with the key its resource is named by
 * (`pool-0`, …); none when poolSize is known to be 0. The fleet is declared after them all.
 */
export function cloneFleetPools<D>(args: { datastores: readonly D[]; poolSize: unknown }, isUnknown: (v: unknown) => boolean): { key: string; datastore: D }[] {
  if (!isUnknown(args.poolSize) && !(typeof args.poolSize === "number" && args.poolSize > 0)) return [];
  return args.datastores.map((datastore, i) => ({ key: `pool-${i}`, datastore }));
}
