import { planReplication, PlanInputError, type PlanCandidate, type PlanSourceLayer, type PlanStep } from "./replicate-plan";

const id = (c: string) => c.repeat(32);
const MiB = 1024 * 1024;

/** base ← middle ← top on the source, each recording its parent's current content ID. */
function chain(): PlanSourceLayer[] {
  return [
    { path: "/src/top.qcow2", format: "qcow2", virtualSizeBytes: 64 * MiB, sizeBytes: 3 * MiB, contentId: id("c"), parentContentId: id("b") },
    { path: "/src/mid.qcow2", format: "qcow2", virtualSizeBytes: 64 * MiB, sizeBytes: 5 * MiB, contentId: id("b"), parentContentId: id("a") },
    { path: "/src/base.qcow2", format: "qcow2", virtualSizeBytes: 64 * MiB, sizeBytes: 40 * MiB, contentId: id("a"), parentContentId: null },
  ];
}

const copyPath = (position: number, contentId: string) => `/dst/clonefleet/replicas/rep-1/${position}-${contentId}.qcow2`;

/** A target base listed under content ID `a`, sound unless patched. */
function targetBase(patch: Partial<PlanCandidate> = {}): PlanCandidate {
  return {
    path: "/dst/base.qcow2",
    contentId: id("a"),
    file: { format: "qcow2", virtualSizeBytes: 64 * MiB },
    chain: [{ path: "/dst/base.qcow2", contentId: id("a"), parentContentId: null, virtualSizeBytes: 64 * MiB }],
    ...patch,
  };
}

/** A target middle (content ID `b`) on the target base. */
function targetMiddle(): PlanCandidate {
  return {
    path: "/dst/mid.qcow2",
    contentId: id("b"),
    file: { format: "qcow2", virtualSizeBytes: 64 * MiB },
    chain: [
      { path: "/dst/mid.qcow2", contentId: id("b"), parentContentId: id("a"), virtualSizeBytes: 64 * MiB },
      { path: "/dst/base.qcow2", contentId: id("a"), parentContentId: null, virtualSizeBytes: 64 * MiB },
    ],
  };
}

const summary = (steps: PlanStep[]) =>
  steps.map((s) => (s.action === "keep" ? `${s.position}:keep${s.rebase ? "+rebase" : ""}` : `${s.position}:${s.action}`));

describe("planReplication", () => {
  test("an empty target gets all three layers, each pointed at the copy below it", () => {
    const plan = planReplication({ source: chain(), candidates: [], copyPath });
    expect(summary(plan.steps)).toEqual(["0:copy", "1:copy", "2:copy"]);
    expect(plan.steps.map((s) => (s.action === "copy" ? s.parentTargetPath : "x"))).toEqual([copyPath(1, id("b")), copyPath(2, id("a")), null]);
    expect(plan.bytesToCopy).toBe(48 * MiB);
    expect(plan.staleLinks).toEqual([]);
    expect(plan.refused).toEqual([]);
  });

  test("a target holding the base: middle and top are copied, the middle re-parented onto the base", () => {
    const plan = planReplication({ source: chain(), candidates: [targetBase()], copyPath });
    expect(summary(plan.steps)).toEqual(["0:copy", "1:copy", "2:reuse"]);
    const middle = plan.steps[1];
    expect(middle.action === "copy" && middle.parentTargetPath).toBe("/dst/base.qcow2");
    expect(plan.steps[2]).toMatchObject({ targetPath: "/dst/base.qcow2", contentId: id("a"), source: { path: "/src/base.qcow2" } });
    expect(plan.bytesToCopy).toBe(8 * MiB);
  });

  test("a target holding base and middle: only the top is copied and both are reused", () => {
    const plan = planReplication({ source: chain(), candidates: [targetBase(), targetMiddle()], copyPath });
    expect(summary(plan.steps)).toEqual(["0:copy", "1:reuse", "2:reuse"]);
    expect(plan.steps.map((s) => s.targetPath)).toEqual([copyPath(0, id("c")), "/dst/mid.qcow2", "/dst/base.qcow2"]);
    expect(plan.bytesToCopy).toBe(3 * MiB);
  });

  test("the top is copied even when the target already lists its content ID", () => {
    const topThere: PlanCandidate = { ...targetBase(), path: "/dst/top.qcow2", contentId: id("c") };
    const plan = planReplication({ source: chain(), candidates: [topThere, targetBase(), targetMiddle()], copyPath });
    expect(summary(plan.steps)).toEqual(["0:copy", "1:reuse", "2:reuse"]);
  });

  test("a target file with another content ID is never reused, whatever its name", () => {
    const sameName: PlanCandidate = { ...targetBase(), path: "/dst/base.qcow2", contentId: id("e") };
    const plan = planReplication({ source: chain(), candidates: [sameName], copyPath });
    expect(summary(plan.steps)).toEqual(["0:copy", "1:copy", "2:copy"]);
    expect(plan.refused).toEqual([]);
  });

  test("a parent changed after its child was made is reported, and its old content is not reused", () => {
    const source = chain();
    source[2] = { ...source[2], contentId: id("f") }; // the base was written since the middle recorded `a`
    const plan = planReplication({ source, candidates: [targetBase()], copyPath });
    expect(plan.staleLinks).toEqual([
      { childPath: "/src/mid.qcow2", recordedParentContentId: id("a"), parentPath: "/src/base.qcow2", parentContentId: id("f") },
    ]);
    expect(summary(plan.steps)).toEqual(["0:copy", "1:copy", "2:copy"]);
    expect(plan.steps[2].targetPath).toBe(copyPath(2, id("f")));
  });

  test("a child that recorded no parent content ID vouches for no parent", () => {
    const source = chain();
    source[1] = { ...source[1], parentContentId: null };
    const plan = planReplication({ source, candidates: [targetBase()], copyPath });
    expect(plan.staleLinks).toHaveLength(1);
    expect(plan.staleLinks[0].recordedParentContentId).toBeNull();
    expect(summary(plan.steps)).toEqual(["0:copy", "1:copy", "2:copy"]);
  });

  test.each([
    ["another virtual size", { file: { format: "qcow2", virtualSizeBytes: 32 * MiB } }, /virtual size is 33554432 bytes/],
    ["another format", { file: { format: "raw", virtualSizeBytes: 64 * MiB } }, /format is raw/],
    ["a missing file", { file: null }, /missing/],
    ["a chain that cannot be opened", { chain: null }, /cannot be opened/],
  ])("a matching content ID with %s is refused and the layer copied", (_label, patch, reason) => {
    const plan = planReplication({ source: chain(), candidates: [targetBase(patch as Partial<PlanCandidate>)], copyPath });
    expect(summary(plan.steps)).toEqual(["0:copy", "1:copy", "2:copy"]);
    expect(plan.refused).toHaveLength(1);
    expect(plan.refused[0]).toMatchObject({ targetPath: "/dst/base.qcow2", contentId: id("a") });
    expect(plan.refused[0].reason).toMatch(reason);
  });

  test("a target middle whose own parent has another content ID is refused", () => {
    const mid = targetMiddle();
    mid.chain![1] = { ...mid.chain![1], contentId: id("9") };
    const plan = planReplication({ source: chain(), candidates: [mid, targetBase()], copyPath });
    expect(plan.refused.map((r) => r.targetPath)).toEqual(["/dst/mid.qcow2"]);
    expect(plan.refused[0].reason).toContain(id("9"));
    // The middle is copied instead, and the sound base is found for it.
    expect(summary(plan.steps)).toEqual(["0:copy", "1:copy", "2:reuse"]);
  });

  test("a target chain layer nobody vouches for refuses the candidate", () => {
    const mid = targetMiddle();
    mid.chain![1] = { ...mid.chain![1], contentId: null };
    const plan = planReplication({ source: chain(), candidates: [mid], copyPath });
    expect(plan.refused[0].reason).toMatch(/vouched for by no catalog/);
  });

  test("the first sound candidate is taken when several share the content ID", () => {
    const broken = targetBase({ path: "/dst/old-base.qcow2", file: null });
    const plan = planReplication({ source: chain(), candidates: [broken, targetBase()], copyPath });
    expect(plan.steps[2].targetPath).toBe("/dst/base.qcow2");
    expect(plan.refused.map((r) => r.targetPath)).toEqual(["/dst/old-base.qcow2"]);
  });

  test("a one-layer chain is one copy without a parent", () => {
    const plan = planReplication({ source: [chain()[2]], candidates: [targetBase()], copyPath });
    expect(plan.steps).toEqual([{ action: "copy", position: 0, source: chain()[2], targetPath: copyPath(0, id("a")), parentTargetPath: null }]);
  });

  test("an empty chain is refused", () => {
    expect(() => planReplication({ source: [], candidates: [], copyPath })).toThrow(PlanInputError);
  });

  describe("repair", () => {
    const own = (position: number, contentId: string, intact: boolean, backingPath: string | null) => ({
      position,
      path: copyPath(position, contentId),
      contentId,
      intact,
      backingPath,
    });

    test("nothing missing: everything is kept or reused and nothing copied", () => {
      const plan = planReplication({
        source: chain(),
        candidates: [targetBase()],
        own: [own(0, id("c"), true, copyPath(1, id("b"))), own(1, id("b"), true, "/dst/base.qcow2")],
        copyPath,
      });
      expect(summary(plan.steps)).toEqual(["0:keep", "1:keep", "2:reuse"]);
      expect(plan.bytesToCopy).toBe(0);
    });

    test("a removed middle copy is copied again to its place; the top stays as it is", () => {
      const plan = planReplication({
        source: chain(),
        candidates: [targetBase()],
        own: [own(0, id("c"), true, copyPath(1, id("b"))), own(1, id("b"), false, "/dst/base.qcow2")],
        copyPath,
      });
      expect(summary(plan.steps)).toEqual(["0:keep", "1:copy", "2:reuse"]);
      expect(plan.steps[1].targetPath).toBe(copyPath(1, id("b")));
      expect(plan.bytesToCopy).toBe(5 * MiB);
    });

    test("a reused base that vanished is copied and the kept middle re-pointed at the copy", () => {
      const plan = planReplication({
        source: chain(),
        candidates: [targetBase({ file: null })],
        own: [own(0, id("c"), true, copyPath(1, id("b"))), own(1, id("b"), true, "/dst/base.qcow2")],
        copyPath,
      });
      expect(summary(plan.steps)).toEqual(["0:keep", "1:keep+rebase", "2:copy"]);
      expect(plan.steps[1]).toMatchObject({ parentTargetPath: copyPath(2, id("a")) });
      expect(plan.bytesToCopy).toBe(40 * MiB);
    });

    test("an own layer whose source content changed is copied anew", () => {
      const source = chain();
      source[0] = { ...source[0], contentId: id("d") };
      const plan = planReplication({
        source,
        candidates: [targetBase()],
        own: [own(0, id("c"), true, copyPath(1, id("b"))), own(1, id("b"), true, "/dst/base.qcow2")],
        copyPath,
      });
      expect(summary(plan.steps)).toEqual(["0:copy", "1:keep", "2:reuse"]);
      expect(plan.steps[0].targetPath).toBe(copyPath(0, id("d")));
    });
  });
});
