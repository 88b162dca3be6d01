import { UNKNOWN_VALUE } from "../../pulumi/provider-kit";
import { PULUMI_FACE } from "../../pulumi/validate";
import { datastoreProblems, fleetProblems, knownReferences, REFERENCES, TERRAFORM_FACE, timeoutsProblems, vmMayComeFromParent, vmProblems, type Face } from "../../engine/client/rules";

/** The same configuration as each face writes it: snake_case with undefined for unknown, camelCase with UNKNOWN_VALUE. */
const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const UNKNOWN = Symbol("unknown");
function asFace(face: Face, config: Record<string, unknown>): Record<string, unknown> {
  const unknownValue = face === TERRAFORM_FACE ? undefined : UNKNOWN_VALUE;
  const fix = (v: unknown): unknown => (v === UNKNOWN ? unknownValue : Array.isArray(v) ? v.map(fix) : v);
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [face.attr(k), fix(v)]));
}
/** Terraform sends every attribute, null when unset; Pulumi leaves unset inputs out. */
const VM_ATTRS = ["name", "template_id", "fork_of", "instant_clone_of", "clone_mode", "datastore_id", "power_state", "stop_timeout_seconds", "host_id"];
function vmConfig(face: Face, config: Record<string, unknown>): Record<string, unknown> {
  const all = face === TERRAFORM_FACE ? { ...Object.fromEntries(VM_ATTRS.map((k) => [k, null])), ...config } : config;
  return asFace(face, all);
}

describe.each([
  ["Terraform", TERRAFORM_FACE],
  ["Pulumi", PULUMI_FACE],
])("the rule book read through the %s face", (_name, face) => {
  const n = (k: string) => (face === TERRAFORM_FACE ? k : camel(k));
  const vm = (c: Record<string, unknown>) => vmProblems(vmConfig(face, c), face);

  test("a VM from a template, a fork and an instant clone pass", () => {
    expect(vm({ name: "web", template_id: "tpl-1", clone_mode: "linked" })).toEqual([]);
    expect(vm({ name: "child", fork_of: "vm-1" })).toEqual([]);
    expect(vm({ name: "c", instant_clone_of: "p-1", power_state: "running" })).toEqual([]);
  });

  test("conflicting sources name each attribute that must go, in the face's naming", () => {
    expect(vm({ name: "child", fork_of: "vm-1", template_id: "tpl-1", clone_mode: "full" })).toEqual([
      { attribute: n("template_id"), summary: "Conflicting VM source", reason: `must be unset when ${n("fork_of")} is set: a fork takes its disk from the VM it forks` },
      { attribute: n("clone_mode"), summary: "Conflicting VM source", reason: `must be unset when ${n("fork_of")} is set: a fork's disk is made by forking its parent's` },
    ]);
    expect(vm({ name: "c", instant_clone_of: "p-1" }).map((p) => [p.attribute, p.summary])).toEqual([[n("power_state"), `Missing ${n("power_state")}`]]);
    expect(vm({ name: "v" })).toEqual([expect.objectContaining({ attribute: n("template_id"), summary: "Missing VM source" })]);
  });

  test("bad values: name, clone mode, power, stop timeout, host", () => {
    const problems = vm({ name: "a/b", template_id: "", clone_mode: "thin", power_state: "on", stop_timeout_seconds: 3601, host_id: "../x" });
    expect(problems.map((p) => p.attribute).sort()).toEqual(["clone_mode", "host_id", "name", "power_state", "stop_timeout_seconds", "template_id"].map(n).sort());
    expect(problems.find((p) => p.attribute === n("clone_mode"))!.reason).toBe('must be one of pool, full, linked (got "thin")');
  });

  test("a fleet's hosts are checked item by item; unknown items wait", () => {
    const fleet = (c: Record<string, unknown>) => fleetProblems(asFace(face, { template_id: "tpl-1", size: 2, datastore_ids: ["ds-1"], ...c }), face);
    expect(fleet({ host_ids: ["local", "h2"] })).toEqual([]);
    expect(fleet({ host_ids: ["h2", "../x", "h2"] })).toEqual([
      { attribute: `${n("host_ids")}[1]`, summary: `Invalid ${n("host_ids")}`, reason: "must not contain '/' or '\\'" },
      { attribute: `${n("host_ids")}[2]`, summary: `Invalid ${n("host_ids")}`, reason: "repeats h2" },
    ]);
    expect(fleet({ host_ids: [] }).map((p) => p.attribute)).toEqual([n("host_ids")]);
    expect(fleet({ host_ids: [UNKNOWN, "h2"] })).toEqual([]);
  });

  test("a datastore is shared or one host's own, not both; an unknown reach waits", () => {
    const ds = (c: Record<string, unknown>) => datastoreProblems(asFace(face, { name: "d", path: "/srv/d", ...c }), face);
    expect(ds({ shared: true })).toEqual([]);
    expect(ds({ shared: false, host_id: "b" })).toEqual([]);
    expect(ds({ shared: true, host_id: "b" })).toEqual([
      { attribute: n("shared"), summary: "Conflicting datastore reach", reason: `a datastore is shared by every host or belongs to ${n("host_id")}, not both` },
    ]);
    expect(ds({ shared: true, host_id: UNKNOWN })).toEqual([]);
    expect(ds({ host_id: "../b", shared: "yes" }).map((p) => p.attribute).sort()).toEqual([n("host_id"), n("shared")].sort());
  });

  test("unknown values wait: an unknown source neither conflicts nor is missing", () => {
    expect(vm({ name: UNKNOWN, fork_of: UNKNOWN, template_id: "tpl-1" })).toEqual([]);
    expect(vm({ name: "v", template_id: UNKNOWN, clone_mode: UNKNOWN, stop_timeout_seconds: UNKNOWN })).toEqual([]);
    expect(vm({ name: "c", instant_clone_of: UNKNOWN })).toEqual([]);
    // An unknown fork_of may be a fork: no clone-mode default then.
    expect(vmMayComeFromParent(vmConfig(face, { fork_of: UNKNOWN, template_id: "tpl-1" }), face)).toBe(true);
    expect(vmMayComeFromParent(vmConfig(face, { template_id: "tpl-1" }), face)).toBe(false);
  });

  test("a fleet's datastores are checked item by item; unknown items wait", () => {
    const fleet = (c: Record<string, unknown>) => fleetProblems(asFace(face, { template_id: "tpl-1", size: 2, ...c }), face);
    expect(fleet({ datastore_ids: ["ds-1", "ds-1", ""] })).toEqual([
      { attribute: `${n("datastore_ids")}[1]`, summary: `Invalid ${n("datastore_ids")}`, reason: "repeats ds-1" },
      { attribute: `${n("datastore_ids")}[2]`, summary: `Invalid ${n("datastore_ids")}`, reason: "must not be empty" },
    ]);
    expect(fleet({ datastore_ids: [UNKNOWN, UNKNOWN], size: UNKNOWN })).toEqual([]);
  });

  test("references: only known ids, and only those that changed since the prior state", () => {
    const config = vmConfig(face, { name: "v", template_id: "tpl-1", datastore_id: UNKNOWN, host_id: "h-1" });
    expect(knownReferences(config, face, REFERENCES.vm)).toEqual([
      { attribute: n("template_id"), kind: "template", id: "tpl-1" },
      { attribute: n("host_id"), kind: "host", id: "h-1" },
    ]);
    expect(knownReferences(config, face, REFERENCES.vm, { [n("template_id")]: "tpl-1", [n("host_id")]: "h-0" })).toEqual([{ attribute: n("host_id"), kind: "host", id: "h-1" }]);
    expect(knownReferences(asFace(face, { datastore_ids: ["ds-1", UNKNOWN] }), face, REFERENCES.fleet)).toEqual([{ attribute: `${n("datastore_ids")}[0]`, kind: "datastore", id: "ds-1" }]);
  });

  test("timeouts: durations or seconds, for the resource's long operations only", () => {
    expect(timeoutsProblems({ create: "45m", delete: 90 }, face, ["create", "update", "delete"])).toEqual([]);
    expect(timeoutsProblems({ create: "soon", read: "1m" }, face, ["create", "delete"]).map((p) => p.attribute)).toEqual([`${n("timeouts")}.create`, `${n("timeouts")}.read`]);
  });
});
