import { UNKNOWN_VALUE } from "./provider-kit";
import { validateDiskPoolInputs, validateFleetInputs, validateVmInputs, withDiskPoolDefaults, withFleetDefaults, withVmDefaults } from "./validate";

const props = (failures: { property: string }[]) => failures.map((f) => f.property).sort();

test("disk pool inputs: ids, a size in range, atSize only true", () => {
  const good = { templateId: "tpl-1", datastoreId: "ds-1", size: 8 };
  expect(validateDiskPoolInputs(good)).toEqual([]);
  expect(props(validateDiskPoolInputs({ ...good, size: 1025, atSize: false }))).toEqual(["atSize", "size"]);
  expect(props(validateDiskPoolInputs({}))).toEqual(["datastoreId", "size", "templateId"]);
  expect(withDiskPoolDefaults(good)).toEqual({ ...good, atSize: true });
});

test("VM inputs: a name, a template, a known clone mode", () => {
  const good = { name: "solo", templateId: "tpl-1" };
  expect(validateVmInputs(good)).toEqual([]);
  expect(validateVmInputs({ ...good, cloneMode: "linked", datastoreId: "ds-1" })).toEqual([]);
  expect(props(validateVmInputs({ name: "a/b", templateId: "tpl-1", cloneMode: "thin", datastoreId: "" }))).toEqual(["cloneMode", "datastoreId", "name"]);
  expect(withVmDefaults(good)).toEqual({ ...good, cloneMode: "pool", powerState: "stopped", migrationNotifyTimeoutSeconds: 0, migrationOnMissingAck: "proceed", haRestart: false });
  // A fork names its parent instead of a template, and takes no datastore.
  expect(validateVmInputs({ name: "child", forkOf: "vm-1", powerState: "running" })).toEqual([]);
  expect(props(validateVmInputs({ name: "child", forkOf: "vm-1", templateId: "tpl-1", datastoreId: "ds-1", powerState: "on" }))).toEqual(["datastoreId", "powerState", "templateId"]);
});

test("fleet inputs: datastores listed once each, by index; unknown values wait", () => {
  const good = { templateId: "tpl-1", size: 4, datastoreIds: ["ds-1", "ds-2"] };
  expect(validateFleetInputs(good)).toEqual([]);
  expect(validateFleetInputs({ ...good, datastoreIds: ["ds-1", "ds-1", ""] })).toEqual([
    { property: "datastoreIds[1]", reason: "repeats ds-1" },
    { property: "datastoreIds[2]", reason: "must not be empty" },
  ]);
  expect(props(validateFleetInputs({ ...good, datastoreIds: [], namePrefix: "x".repeat(60), membersHealthy: false }))).toEqual(["datastoreIds", "membersHealthy", "namePrefix"]);
  expect(validateFleetInputs({ templateId: UNKNOWN_VALUE, size: UNKNOWN_VALUE, datastoreIds: [UNKNOWN_VALUE, UNKNOWN_VALUE] })).toEqual([]);
  expect(validateFleetInputs({ ...good, datastoreIds: UNKNOWN_VALUE })).toEqual([]);
  expect(withFleetDefaults(good)).toEqual({ ...good, cloneMode: "pool", powerState: "stopped", membersHealthy: true });
});
