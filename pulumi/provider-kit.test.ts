import { changedKeys, connectionOf, sameValue, UNKNOWN_VALUE, withConnectionKeys } from "./provider-kit";
import { datastoreProvider } from "./datastore";
import { fleetProvider } from "./fleet";
import { instantCloneParentProvider } from "./instant-clone-parent";
import { templateProvider } from "./template";

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

describe("the diffs the resources declare through the kit", () => {
  const diff = (p: { diff?: (...a: never[]) => unknown }, olds: object, news: object) =>
    (p.diff as (id: string, o: object, n: object) => Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }>)("id-1", olds, news);

  test("a template renamed may be made before the old one goes; one moved to another datastore under its name may not", async () => {
    const olds = { name: "base", datastoreId: "ds-1", sourcePath: "/img.raw", memoryMb: 256, vcpus: 1 };
    expect(await diff(templateProvider, olds, { ...olds, name: "base2" })).toEqual({ changes: true, replaces: ["name"], deleteBeforeReplace: false });
    expect(await diff(templateProvider, olds, { ...olds, datastoreId: "ds-2" })).toEqual({ changes: true, replaces: ["datastoreId"], deleteBeforeReplace: true });
    expect(await diff(templateProvider, olds, olds)).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });

  test("a datastore whose name and path both change can coexist with the old one", async () => {
    const olds = { name: "a", path: "/a" };
    expect((await diff(datastoreProvider, olds, { name: "b", path: "/b" })).deleteBeforeReplace).toBe(false);
    expect((await diff(datastoreProvider, olds, { name: "a", path: "/b" })).deleteBeforeReplace).toBe(true);
  });

  test("a parent's state from before warmCount existed reads as warmCount 0: no change", async () => {
    const olds = { sourceVmId: "vm-1", name: "p", ramLocation: "tmpfs", restartSource: true, waitForChildrenOnDestroy: false };
    expect((await diff(instantCloneParentProvider, olds, { ...olds, warmCount: 0 })).changes).toBe(false);
    expect(await diff(instantCloneParentProvider, olds, { ...olds, warmCount: 2 })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
  });

  test("a fleet's namePrefix is compared only when given", async () => {
    const olds = { templateId: "tpl-1", size: 2, datastoreIds: ["ds-1"], namePrefix: "base", cloneMode: "pool", powerState: "stopped", membersHealthy: true };
    const { namePrefix: _omitted, ...news } = olds;
    expect((await diff(fleetProvider, olds, news)).changes).toBe(false);
    expect((await diff(fleetProvider, olds, { ...olds, namePrefix: "web" })).replaces).toEqual(["namePrefix"]);
  });
});
