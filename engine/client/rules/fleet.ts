/** The rules of a fleet: its size, name prefix, datastores, clone mode and power. */
import { FLEET_DATASTORES_MAX, FLEET_SIZE_RANGE, intRangeProblem, namePrefixProblem } from "../../model/rules";
import { knownValue, RuleReader, type Face, type RuleProblem } from "./reading";
import { CLONE_MODES, idProblem, oneOfProblem, POWER_STATES, providerReportedProblem } from "./values";

/** Problems of a fleet's configuration (the engine checks that the ids exist). */
export function fleetProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  const n = (k: string) => r.n(k);
  r.check("template_id", `Invalid ${n("template_id")}`, idProblem("a Template"));
  r.check("size", `Invalid ${n("size")}`, (v) => intRangeProblem(v, FLEET_SIZE_RANGE));
  r.check("name_prefix", `Invalid ${n("name_prefix")}`, namePrefixProblem);
  const list = n("datastore_ids");
  if (r.isSet("datastore_ids")) {
    const ids = r.value("datastore_ids");
    if (!Array.isArray(ids)) r.add(list, `Invalid ${list}`, "must be a list of Datastore ids");
    else {
      if (ids.length === 0) r.add(list, `Invalid ${list}`, "must list at least one datastore");
      if (ids.length > FLEET_DATASTORES_MAX) r.add(list, `Invalid ${list}`, `must list at most ${FLEET_DATASTORES_MAX} datastores`);
      ids.forEach((id, i) => {
        if (!knownValue(face, id)) return;
        const p = idProblem("a Datastore")(id) ?? (ids.indexOf(id) < i ? `repeats ${String(id)}` : null);
        if (p) r.add(`${list}[${i}]`, `Invalid ${list}`, p);
      });
    }
  }
  r.check("clone_mode", `Invalid ${n("clone_mode")}`, oneOfProblem(CLONE_MODES));
  r.check("power_state", `Invalid ${n("power_state")}`, oneOfProblem(POWER_STATES));
  r.check("members_healthy", `Invalid ${n("members_healthy")}`, providerReportedProblem("a member is missing"));
  return r.problems;
}
