import { chainAfter, ConsolidationPlanError, planConsolidation, type PlanLayer } from "./snapshot-plan";

// active → F3 → F2 → F1 → template base
const chain: PlanLayer[] = [
  { id: "act", path: "/d/act", snapshotId: null },
  { id: "f3", path: "/d/f3", snapshotId: "s3" },
  { id: "f2", path: "/d/f2", snapshotId: "s2" },
  { id: "f1", path: "/d/f1", snapshotId: "s1" },
  { id: "tpl", path: "/t/base", snapshotId: null },
];

test("deleting the newest snapshot commits the active layer into its frozen layer (active commit)", () => {
  const p = planConsolidation(chain, "s3");
  expect(p.base.id).toBe("f3");
  expect(p.top.id).toBe("act");
  expect(p.active).toBe(true);
  expect(p.above).toBeNull();
  expect(p.baseNewOwner).toEqual({ kind: "vm" });
  expect(chainAfter(chain, p).map((l) => [l.id, l.snapshotId])).toEqual([
    ["f3", null],
    ["f2", "s2"],
    ["f1", "s1"],
    ["tpl", null],
  ]);
});

test("deleting a middle snapshot commits the next snapshot's frozen layer into it; the layer above is re-pointed", () => {
  const p = planConsolidation(chain, "s2");
  expect(p.base.id).toBe("f2");
  expect(p.top.id).toBe("f3");
  expect(p.active).toBe(false);
  expect(p.above?.id).toBe("act");
  expect(p.baseNewOwner).toEqual({ kind: "snapshot", snapshotId: "s3" });
  expect(chainAfter(chain, p).map((l) => [l.id, l.snapshotId])).toEqual([
    ["act", null],
    ["f2", "s3"],
    ["f1", "s1"],
    ["tpl", null],
  ]);
});

test("deleting the oldest snapshot commits the second snapshot's layer into it, never touching the template below", () => {
  const p = planConsolidation(chain, "s1");
  expect(p.base.id).toBe("f1");
  expect(p.top.id).toBe("f2");
  expect(p.above?.id).toBe("f3");
  expect(p.baseNewOwner).toEqual({ kind: "snapshot", snapshotId: "s2" });
  expect(chainAfter(chain, p)).toHaveLength(4);
});

test("the only snapshot of a VM: active commit into it", () => {
  const one: PlanLayer[] = [
    { id: "act", path: "/d/act", snapshotId: null },
    { id: "f1", path: "/d/f1", snapshotId: "s1" },
  ];
  const p = planConsolidation(one, "s1");
  expect(p.active).toBe(true);
  expect(chainAfter(one, p)).toEqual([{ id: "f1", path: "/d/f1", snapshotId: null }]);
});

test("unknown snapshot or a snapshot-owned top is refused", () => {
  expect(() => planConsolidation(chain, "nope")).toThrow(ConsolidationPlanError);
  expect(() => planConsolidation([{ id: "x", path: "/x", snapshotId: "s" }], "s")).toThrow(ConsolidationPlanError);
  expect(() => planConsolidation([], "s")).toThrow(ConsolidationPlanError);
});
