/** The rules of a VM: its name, its one source (a template, a VM to fork or an instant-clone parent), clone mode, power and migration policy. */
import { intRangeProblem, nameProblem } from "../../model/rules";
import { missingAckProblem, notifyTimeoutProblem } from "../../model/migration-rules";
import { RuleReader, type Face, type RuleProblem } from "./reading";
import { boolProblem, CLONE_MODES, idProblem, oneOfProblem, POWER_STATES, STOP_TIMEOUT_RANGE } from "./values";

/** The sources a VM is made from, in the order the engine prefers them; exactly one is set. */
export const VM_SOURCES = ["instant_clone_of", "fork_of", "template_id"] as const;

/** What a VM's disk comes from: a template (clone), another VM (fork) or an instant-clone parent; null while unknown. */
export type VmOrigin = "template" | "fork" | "instant_clone";

/**
 * The origin the configuration declares, or null when it cannot be told yet (a source is
 * unknown) or none is set. Attributes that belong to a clone of a template (clone_mode,
 * datastore_id) do not apply to the other origins.
 */
export function vmOrigin(config: Readonly<Record<string, unknown>>, face: Face): VmOrigin | null {
  const r = new RuleReader(config, face);
  if (r.isSet("instant_clone_of")) return "instant_clone";
  if (r.isSet("fork_of")) return "fork";
  if (r.isSet("template_id")) return "template";
  return null;
}

/** True when a source other than a template is set or may turn out set: no clone-mode default then. */
export function vmMayComeFromParent(config: Readonly<Record<string, unknown>>, face: Face): boolean {
  const r = new RuleReader(config, face);
  return !r.isUnset("instant_clone_of") || !r.isUnset("fork_of");
}

/** Problems of a VM's configuration (the engine checks that the ids exist). */
export function vmProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  const n = (k: string) => r.n(k);
  r.check("name", "Invalid VM name", nameProblem);
  r.check("template_id", `Invalid ${n("template_id")}`, idProblem("a Template"));
  r.check("fork_of", `Invalid ${n("fork_of")}`, idProblem("a Vm"));
  r.check("instant_clone_of", `Invalid ${n("instant_clone_of")}`, idProblem("an InstantCloneParent"));
  r.check("datastore_id", `Invalid ${n("datastore_id")}`, idProblem("a Datastore"));
  r.check("clone_mode", `Invalid ${n("clone_mode")}`, oneOfProblem(CLONE_MODES));
  r.check("power_state", `Invalid ${n("power_state")}`, oneOfProblem(POWER_STATES));
  r.check("stop_timeout_seconds", `Invalid ${n("stop_timeout_seconds")}`, (v) => intRangeProblem(v, STOP_TIMEOUT_RANGE));
  r.check("host_id", `Invalid ${n("host_id")}`, nameProblem);
  r.check("migration_notify_timeout_seconds", `Invalid ${n("migration_notify_timeout_seconds")}`, notifyTimeoutProblem);
  r.check("migration_on_missing_ack", `Invalid ${n("migration_on_missing_ack")}`, missingAckProblem);
  r.check("ha_restart", `Invalid ${n("ha_restart")}`, boolProblem);
  // Only values known to be set conflict: an unknown one may still turn out null.
  const conflicts = (source: string, fields: readonly string[], why: Record<string, string>) => {
    for (const f of fields) if (r.isSet(f)) r.add(n(f), "Conflicting VM source", `must be unset when ${n(source)} is set: ${why[f]}`);
  };
  if (r.isSet("instant_clone_of")) {
    const why = "an instant clone takes its disk and memory from its parent";
    conflicts("instant_clone_of", ["template_id", "fork_of", "datastore_id", "clone_mode"], { template_id: why, fork_of: why, datastore_id: why, clone_mode: why });
    if (r.isUnset("power_state")) {
      r.add(
        n("power_state"),
        `Missing ${n("power_state")}`,
        `must be set ("running") with ${n("instant_clone_of")}: an instant clone runs from the moment it is made (stopped, it loses the captured state; a later start is a cold boot)`,
      );
    }
  } else if (r.isSet("fork_of")) {
    conflicts("fork_of", ["template_id", "datastore_id", "clone_mode"], {
      template_id: "a fork takes its disk from the VM it forks",
      datastore_id: "a fork's disk stays beside its parent's",
      clone_mode: "a fork's disk is made by forking its parent's",
    });
  } else if (VM_SOURCES.every((s) => r.isUnset(s))) {
    r.add(
      n("template_id"),
      "Missing VM source",
      `is required: set ${n("template_id")} (a template to clone), ${n("fork_of")} (a VM to fork) or ${n("instant_clone_of")} (an instant-clone parent)`,
    );
  }
  return r.problems;
}
