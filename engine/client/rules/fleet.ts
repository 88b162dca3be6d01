/** The rules of a fleet: its size, name prefix, datastores, hosts, clone mode and power. */
import { FLEET_DATASTORES_MAX, FLEET_SIZE_RANGE, intRangeProblem, namePrefixProblem, nameProblem } from "../../model/rules";
import { knownValue, RuleReader, type Face, type RuleProblem } from "./reading";
import { CLONE_MODES, idProblem, oneOfProblem, POWER_STATES, providerReportedProblem } from "./values";

/** Problems of a fleet's configuration (the engine checks that the ids exist). */
export function fleetProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  const n = (k: string) => r.n(k);
  r.check("template_id", `Invalid ${n("template_id")}`, idProblem("a Template"));
  r.check("size", `Invalid ${n("size")}`, (v) => intRangeProblem(v, FLEET_SIZE_RANGE));
  r.check("name_prefix", `Invalid ${n("name_prefix")}`, namePrefixProblem);
  checkIdList(r, face, "datastore_ids", {
    notAList: "must be a list of Datastore ids",
    empty: "must list at least one datastore",
    most: { count: FLEET_DATASTORES_MAX, reason: `must list at most ${FLEET_DATASTORES_MAX} datastores` },
    item: idProblem("a Datastore"),
  });
  checkIdList(r, face, "host_ids", { notAList: "must be a list of host ids", empty: "must list at least one host, or be left out for every host", item: nameProblem });
  r.check("clone_mode", `Invalid ${n("clone_mode")}`, oneOfProblem(CLONE_MODES));
  r.check("power_state", `Invalid ${n("power_state")}`, oneOfProblem(POWER_STATES));
  r.check("members_healthy", `Invalid ${n("members_healthy")}`, providerReportedProblem("a member is missing"));
  return r.problems;
}

/** Checks a list of ids item by item (unknown items wait): a list, not empty, not too long, each item sound and not repeated. */
function checkIdList(
  r: RuleReader,
  face: Face,
  name: string,
  rules: { notAList: string; empty: string; most?: { count: number; reason: string }; item: (v: unknown) => string | null },
): void {
  if (!r.isSet(name)) return;
  const list = r.n(name);
  const ids = r.value(name);
  if (!Array.isArray(ids)) {
    r.add(list, `Invalid ${list}`, rules.notAList);
    return;
  }
  if (ids.length === 0) r.add(list, `Invalid ${list}`, rules.empty);
  if (rules.most && ids.length > rules.most.count) r.add(list, `Invalid ${list}`, rules.most.reason);
  ids.forEach((id, i) => {
    if (!knownValue(face, id)) return;
    const p = rules.item(id) ?? (ids.indexOf(id) < i ? `repeats ${String(id)}` : null);
    if (p) r.add(`${list}[${i}]`, `Invalid ${list}`, p);
  });
}
