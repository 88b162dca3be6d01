/** The rules of snapshots and instant-clone parents: the VM they are taken of, their name, where a parent keeps its RAM and how many children it keeps warm. */
import { MAX_WARM_CHILDREN } from "../../model/instant-clone";
import { intRangeProblem, nameProblem } from "../../model/rules";
import { RuleReader, type Face, type RuleProblem } from "./reading";
import { boolProblem, idProblem, oneOfProblem, RAM_LOCATIONS } from "./values";

/** Problems of a snapshot's configuration (the engine checks that the VM exists). */
export function snapshotProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  r.check("vm_id", `Invalid ${r.n("vm_id")}`, idProblem("a Vm"));
  r.check("name", "Invalid snapshot name", nameProblem);
  return r.problems;
}

/** Problems of an instant-clone parent's configuration (the engine checks that the VM exists and runs). */
export function instantCloneParentProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  r.check("source_vm_id", `Invalid ${r.n("source_vm_id")}`, idProblem("a running Vm"));
  r.check("name", "Invalid parent name", nameProblem);
  r.check("ram_location", `Invalid ${r.n("ram_location")}`, oneOfProblem(RAM_LOCATIONS));
  for (const k of ["restart_source", "wait_for_children_on_destroy"]) r.check(k, `Invalid ${r.n(k)}`, boolProblem);
  r.check("warm_count", `Invalid ${r.n("warm_count")}`, (v) => intRangeProblem(v, { min: 0, max: MAX_WARM_CHILDREN }));
  return r.problems;
}
