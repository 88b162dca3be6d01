import { UNKNOWN_VALUE } from "./provider-kit";
import { validateInstantCloneParentInputs, validateVmInputs, withInstantCloneParentDefaults } from "./validate";

const props = (failures: { property: string }[]) => failures.map((f) => f.property).sort();

test("instant-clone parent inputs: sourceVmId and name are required and checked, ramLocation, the flags and warmCount (0–64) too; unknown values wait for the apply", () => {
  expect(validateInstantCloneParentInputs({ sourceVmId: "vm-1", name: "base" })).toEqual([]);
  expect(validateInstantCloneParentInputs({ sourceVmId: "vm-1", name: "base", ramLocation: "datastore", restartSource: false, waitForChildrenOnDestroy: true, warmCount: 64 })).toEqual([]);
  expect(validateInstantCloneParentInputs({})).toEqual([
    { property: "sourceVmId", reason: "is required" },
    { property: "name", reason: "is required" },
  ]);
  expect(props(validateInstantCloneParentInputs({ sourceVmId: "", name: "a/b", ramLocation: "nvme", restartSource: "yes", waitForChildrenOnDestroy: 1, warmCount: 1.5 }))).toEqual([
    "name",
    "ramLocation",
    "restartSource",
    "sourceVmId",
    "waitForChildrenOnDestroy",
    "warmCount",
  ]);
  expect(validateInstantCloneParentInputs({ sourceVmId: "vm-1", name: "base", warmCount: 65 })).toEqual([{ property: "warmCount", reason: "must be between 0 and 64 (got 65)" }]);
  expect(validateInstantCloneParentInputs({ sourceVmId: "vm-1", name: "base", warmCount: UNKNOWN_VALUE })).toEqual([]);
  expect(validateInstantCloneParentInputs({ sourceVmId: UNKNOWN_VALUE, name: "base" })).toEqual([]);
  expect(withInstantCloneParentDefaults({ name: "base" })).toEqual({ name: "base", restartSource: true, waitForChildrenOnDestroy: false, warmCount: 0 });
  expect(withInstantCloneParentDefaults({ name: "base", warmCount: 3 })).toMatchObject({ warmCount: 3 });
});

test("a Vm with instantCloneOf: no template, fork or datastore, and powerState set", () => {
  expect(validateVmInputs({ name: "c", instantCloneOf: "parent-1", powerState: "running" })).toEqual([]);
  expect(validateVmInputs({ name: "c", instantCloneOf: UNKNOWN_VALUE, powerState: "running" })).toEqual([]);
  expect(props(validateVmInputs({ name: "c", instantCloneOf: "parent-1", templateId: "tpl-1", forkOf: "vm-1", datastoreId: "ds-1" }))).toEqual([
    "datastoreId",
    "forkOf",
    "powerState",
    "templateId",
  ]);
  expect(validateVmInputs({ name: "c", instantCloneOf: "" }).map((f) => f.property)).toContain("instantCloneOf");
});
