import { placeClones, PlacementError, spreadOverHosts, type HostCandidate, type PlacementCandidate } from "./placement";

const GiB = 2 ** 30;
const ds = (id: string, over: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  datastoreId: id,
  freeBytes: 100 * GiB,
  readyCopies: 0,
  members: 0,
  ...over,
});
const tally = (ids: string[]) => ids.reduce<Record<string, number>>((acc, id) => ({ ...acc, [id]: (acc[id] ?? 0) + 1 }), {});

describe("placeClones", () => {
  it("spreads evenly over equal datastores, in candidate order on ties", () => {
    const out = placeClones({ count: 5, bytesPerCopy: GiB, candidates: [ds("a"), ds("b")] });
    expect(out.map((p) => p.datastoreId)).toEqual(["a", "b", "a", "b", "a"]);
    expect(out.every((p) => !p.fromPool)).toBe(true);
  });

  it("uses every ready pool copy before copying, spreading them by load", () => {
    const out = placeClones({ count: 8, bytesPerCopy: GiB, candidates: [ds("a", { readyCopies: 3 }), ds("b", { readyCopies: 3 }), ds("c")] });
    const pooled = out.filter((p) => p.fromPool).map((p) => p.datastoreId);
    expect(tally(pooled)).toEqual({ a: 3, b: 3 });
    // The two copies go where the load is lowest: the datastore with no pool.
    expect(out.filter((p) => !p.fromPool).map((p) => p.datastoreId)).toEqual(["c", "c"]);
  });

  it("takes no more pool copies than clones asked for, from the least loaded pool first", () => {
    const out = placeClones({ count: 3, bytesPerCopy: GiB, candidates: [ds("a", { readyCopies: 8, members: 2 }), ds("b", { readyCopies: 8 })] });
    expect(out).toEqual([
      { datastoreId: "b", fromPool: true },
      { datastoreId: "b", fromPool: true },
      { datastoreId: "a", fromPool: true },
    ]);
  });

  it("weighs members already there", () => {
    const out = placeClones({ count: 4, bytesPerCopy: GiB, candidates: [ds("a", { members: 3 }), ds("b", { members: 0 })] });
    expect(tally(out.map((p) => p.datastoreId))).toEqual({ a: 1, b: 3 });
  });

  it("breaks load ties towards more free space, and skips datastores without room", () => {
    const out = placeClones({
      count: 3,
      bytesPerCopy: 10 * GiB,
      candidates: [ds("small", { freeBytes: 15 * GiB }), ds("big", { freeBytes: 50 * GiB }), ds("full", { freeBytes: 5 * GiB })],
    });
    expect(out.map((p) => p.datastoreId)).toEqual(["big", "small", "big"]);
  });

  it("moves pool copies even where there is no room for a copy", () => {
    const out = placeClones({ count: 2, bytesPerCopy: GiB, candidates: [ds("a", { readyCopies: 2, freeBytes: 0 })] });
    expect(out).toEqual([
      { datastoreId: "a", fromPool: true },
      { datastoreId: "a", fromPool: true },
    ]);
  });

  it("gives nothing to a datastore it cannot measure", () => {
    const out = placeClones({ count: 2, bytesPerCopy: GiB, candidates: [ds("gone", { freeBytes: null, readyCopies: 5 }), ds("ok")] });
    expect(out.map((p) => p.datastoreId)).toEqual(["ok", "ok"]);
  });

  it("throws a PlacementError saying how many fit when space runs out", () => {
    let err: unknown;
    try {
      placeClones({ count: 5, bytesPerCopy: 10 * GiB, candidates: [ds("a", { freeBytes: 25 * GiB, readyCopies: 1 })] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlacementError);
    expect(err).toMatchObject({ requested: 5, placed: 3 });
  });

  it("places nothing for zero clones and refuses a negative count", () => {
    expect(placeClones({ count: 0, bytesPerCopy: GiB, candidates: [] })).toEqual([]);
    expect(() => placeClones({ count: -1, bytesPerCopy: GiB, candidates: [ds("a")] })).toThrow(RangeError);
  });
});

describe("spreadOverHosts", () => {
  const host = (hostId: string, reads: string[], members = 0, runningVms = 0): HostCandidate => ({ hostId, members, runningVms, reads: new Set(reads) });

  test("spreads members evenly, counting those the fleet has and those just placed", () => {
    const hosts = [host("a", ["shared"], 2), host("b", ["shared"]), host("c", ["shared"], 1)];
    expect(spreadOverHosts(["shared", "shared", "shared", "shared"], hosts)).toEqual(["b", "b", "c", "a"]);
  });

  test("a member on a host's own datastore goes to that host; one no candidate reads gets none", () => {
    const hosts = [host("a", ["shared", "a-own"]), host("b", ["shared", "b-own"])];
    expect(spreadOverHosts(["b-own", "b-own", "shared", "a-own", "c-own"], hosts)).toEqual(["b", "b", "a", "a", null]);
  });

  test("ties go to the host running fewer VMs, then by id", () => {
    expect(spreadOverHosts(["s"], [host("a", ["s"], 0, 3), host("b", ["s"], 0, 1)])).toEqual(["b"]);
    expect(spreadOverHosts(["s"], [host("b", ["s"]), host("a", ["s"])])).toEqual(["a"]);
  });
});
