import { UNKNOWN_VALUE } from "./provider-kit";
import { validateSnapshotInputs } from "./validate";

test("snapshot inputs: vmId and name are required and checked; unknown values wait for the apply", () => {
  expect(validateSnapshotInputs({ vmId: "vm-1", name: "nightly" })).toEqual([]);
  expect(validateSnapshotInputs({})).toEqual([
    { property: "vmId", reason: "is required" },
    { property: "name", reason: "is required" },
  ]);
  expect(validateSnapshotInputs({ vmId: "", name: "a b" }).map((f) => f.property)).toEqual(["vmId", "name"]);
  expect(validateSnapshotInputs({ vmId: UNKNOWN_VALUE, name: "nightly" })).toEqual([]);
});
