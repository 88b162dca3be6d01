import { formatPath, parseFieldPath } from "./path";

describe("field paths", () => {
  test.each([
    ["name", [{ attribute: "name" }]],
    ["datastore_ids[1]", [{ attribute: "datastore_ids" }, { index: 1 }]],
    ["vms[0].disk_path", [{ attribute: "vms" }, { index: 0 }, { attribute: "disk_path" }]],
    ['tags["env"]', [{ attribute: "tags" }, { key: "env" }]],
    ["tags[env]", [{ attribute: "tags" }, { key: "env" }]],
  ])("%s", (field, steps) => {
    expect(parseFieldPath(field)).toEqual(steps);
  });

  test("text that is not a field gives undefined", () => {
    expect(parseFieldPath("")).toBeUndefined();
    expect(parseFieldPath("[1]")).toBeUndefined();
    expect(parseFieldPath("a b")).toBeUndefined();
  });

  test("formats paths the way users write them", () => {
    expect(formatPath([{ attribute: "vms" }, { index: 2 }, { attribute: "name" }])).toBe("vms[2].name");
    expect(formatPath([{ attribute: "tags" }, { key: "a" }])).toBe('tags["a"]');
  });
});
