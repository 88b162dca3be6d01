/** The rules of the storage resources: datastores, templates, replicas and disk pools. */
import {
  absolutePathProblem,
  cmdlineProblem,
  datastorePathProblem,
  intRangeProblem,
  MEMORY_MB_RANGE,
  nameProblem,
  POOL_SIZE_RANGE,
  VCPUS_RANGE,
} from "../../model/rules";
import { RuleReader, type Face, type RuleProblem } from "./reading";
import { boolProblem, idProblem, providerReportedProblem } from "./values";

/** Problems of a datastore's configuration. */
export function datastoreProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  r.check("name", "Invalid datastore name", nameProblem);
  r.check("path", "Invalid datastore path", datastorePathProblem);
  r.check("shared", `Invalid ${r.n("shared")}`, boolProblem);
  r.check("host_id", `Invalid ${r.n("host_id")}`, nameProblem);
  if (r.value("shared") === true && r.isSet("host_id")) {
    r.add(r.n("shared"), "Conflicting datastore reach", `a datastore is shared by every host or belongs to ${r.n("host_id")}, not both`);
  }
  return r.problems;
}

/** Problems of a template's configuration (the engine checks the files). */
export function templateProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  r.check("name", "Invalid template name", nameProblem);
  r.check("datastore_id", `Invalid ${r.n("datastore_id")}`, idProblem("a Datastore"));
  for (const k of ["source_path", "kernel", "initrd"]) r.check(k, `Invalid ${r.n(k)}`, absolutePathProblem);
  r.check("memory_mb", `Invalid ${r.n("memory_mb")}`, (v) => intRangeProblem(v, MEMORY_MB_RANGE));
  r.check("vcpus", `Invalid ${r.n("vcpus")}`, (v) => intRangeProblem(v, VCPUS_RANGE));
  r.check("cmdline", `Invalid ${r.n("cmdline")}`, cmdlineProblem);
  // Without a kernel the engine would refuse these; say so now, naming the attribute.
  if (r.isUnset("kernel")) {
    if (r.isSet("initrd")) r.add(r.n("initrd"), `Invalid ${r.n("initrd")}`, `needs ${r.n("kernel")}: an initrd is only used for direct kernel boot`);
    if (r.isSet("cmdline")) r.add(r.n("cmdline"), `Invalid ${r.n("cmdline")}`, `needs ${r.n("kernel")}: a command line is only used for direct kernel boot`);
  }
  return r.problems;
}

/** Problems of a replica's configuration (the engine checks the files and ids). */
export function replicaProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  const [path, template] = [r.n("source_disk_path"), r.n("template_id")];
  if (r.isSet("source_disk_path") && r.isSet("template_id")) {
    for (const a of [path, template]) r.add(a, "Conflicting replica sources", `set exactly one of ${path} and ${template}, not both`);
  } else if (r.isUnset("source_disk_path") && r.isUnset("template_id")) {
    r.add(path, "Missing replica source", `is required unless ${template} is given: set exactly one of ${path} (a disk inside a datastore) and ${template} (a template to copy)`);
  }
  r.check("source_disk_path", `Invalid ${path}`, absolutePathProblem);
  r.check("template_id", `Invalid ${template}`, idProblem("a Template"));
  r.check("target_datastore_id", `Invalid ${r.n("target_datastore_id")}`, idProblem("a Datastore"));
  r.check("verify", `Invalid ${r.n("verify")}`, boolProblem);
  r.check("in_sync", `Invalid ${r.n("in_sync")}`, providerReportedProblem("the replica is drifted"));
  return r.problems;
}

/** Problems of a disk pool's configuration (the engine checks the ids). */
export function diskPoolProblems(config: Readonly<Record<string, unknown>>, face: Face): RuleProblem[] {
  const r = new RuleReader(config, face);
  r.check("template_id", `Invalid ${r.n("template_id")}`, idProblem("a Template"));
  r.check("datastore_id", `Invalid ${r.n("datastore_id")}`, idProblem("a Datastore"));
  r.check("size", `Invalid ${r.n("size")}`, (v) => intRangeProblem(v, POOL_SIZE_RANGE));
  r.check("at_size", `Invalid ${r.n("at_size")}`, providerReportedProblem("the pool is below its size"));
  return r.problems;
}
