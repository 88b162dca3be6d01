import { changedKeys, connectionOf, sameValue, UNKNOWN_VALUE, withConnectionKeys } from "./provider-kit";

test("null and undefined are the same unset value", () => {
  expect(sameValue(undefined, null)).toBe(true);
  expect(sameValue(null, "")).toBe(false);
  expect(sameValue(256, 256)).toBe(true);
  expect(sameValue(["a"], ["a"])).toBe(true);
});

test("changed keys compare old outputs with new inputs; unknowns count as changed", () => {
  const olds = { name: "a", path: "/x", freeBytes: 10, kernel: null };
  expect(changedKeys(olds, { name: "a", path: "/x" }, ["name", "path", "kernel"])).toEqual([]);
  expect(changedKeys(olds, { name: "b", path: UNKNOWN_VALUE }, ["name", "path"])).toEqual(["name", "path"]);
  expect(withConnectionKeys(["name"])).toEqual(["name", "endpoint", "token"]);
});

test("connectionOf keeps only the connection strings that are set", () => {
  expect(connectionOf({ endpoint: "http://e", token: undefined })).toEqual({ endpoint: "http://e" });
});
