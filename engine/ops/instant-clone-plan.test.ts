import { cloneCountProblem, defaultParentTmpfsDir, instantCloneNames, mapBounded, namePrefixProblem, parentFiles, parentTmpfsLevels, ramLocationProblem } from "./instant-clone-plan";

describe("parentFiles", () => {
  it("keeps everything in the parent's datastore folder for location datastore", () => {
    const f = parentFiles({ datastoreRoot: "/srv/ds", tmpfsDir: "/dev/shm/cf/x", parentId: "parent-1", ramLocation: "datastore" });
    expect(f).toEqual({
      dir: "/srv/ds/clonefleet/parents/parent-1",
      disk: "/srv/ds/clonefleet/parents/parent-1/disk.qcow2",
      deviceState: "/srv/ds/clonefleet/parents/parent-1/device.state",
      childOverlay: "/srv/ds/clonefleet/parents/parent-1/child-overlay.qcow2",
      ramDir: "/srv/ds/clonefleet/parents/parent-1",
      ram: "/srv/ds/clonefleet/parents/parent-1/ram",
    });
  });
  it("puts only the RAM file on the tmpfs for location tmpfs", () => {
    const f = parentFiles({ datastoreRoot: "/srv/ds", tmpfsDir: "/dev/shm/cf/x", parentId: "parent-1", ramLocation: "tmpfs" });
    expect(f.ram).toBe("/dev/shm/cf/x/parent-1/ram");
    expect(f.deviceState).toBe("/srv/ds/clonefleet/parents/parent-1/device.state");
  });
  it("refuses ids that are not one path segment", () => {
    expect(() => parentFiles({ datastoreRoot: "/srv/ds", tmpfsDir: "/t", parentId: "../x", ramLocation: "tmpfs" })).toThrow("one path segment");
  });
});

describe("defaultParentTmpfsDir", () => {
  it("gives each state folder its own folder under /dev/shm/clonefleet", () => {
    const a = defaultParentTmpfsDir("/var/lib/a");
    expect(a).toMatch(/^\/dev\/shm\/clonefleet\/[0-9a-f]{16}$/);
    expect(defaultParentTmpfsDir("/var/lib/b")).not.toBe(a);
    expect(defaultParentTmpfsDir("/var/lib/a/")).toBe(a);
  });
});

describe("parentTmpfsLevels", () => {
  it("under the default, names the shared folder and the engine's own one, which any local user could make first", () => {
    expect(parentTmpfsLevels(defaultParentTmpfsDir("/var/lib/cf"))).toEqual(["/dev/shm/clonefleet", defaultParentTmpfsDir("/var/lib/cf")]);
  });
  it("for a folder the administrator named, names only it", () => {
    expect(parentTmpfsLevels("/mnt/ram/cf/")).toEqual(["/mnt/ram/cf"]);
  });
});

describe("child names and counts", () => {
  it("numbers children from 1", () => expect(instantCloneNames("web", 3)).toEqual(["web-1", "web-2", "web-3"]));
  it.each([
    [0, "between 1 and 256"],
    [257, "between 1 and 256"],
    [1.5, "integer"],
    ["2", "integer"],
  ])("refuses count %j", (n, words) => expect(cloneCountProblem(n)).toContain(words));
  it("accepts counts in range", () => expect(cloneCountProblem(64)).toBeNull());
  it("refuses a prefix whose child names would be too long", () => expect(namePrefixProblem("x".repeat(61), 100)).toContain("too long"));
  it("refuses a prefix that is not a name", () => expect(namePrefixProblem("a/b", 1)).toContain("'/'"));
  it("refuses unknown RAM locations", () => expect(ramLocationProblem("nvme")).toContain("tmpfs, datastore"));
});

describe("mapBounded", () => {
  it("never runs more than the limit at once and keeps the order of results", async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapBounded([5, 1, 4, 2, 3], 2, async (x) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, x * 3));
      inFlight--;
      if (x === 4) throw new Error("four");
      return x * 10;
    });
    expect(peak).toBe(2);
    expect(out.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([50, 10, "four", 20, 30]);
  });
});
