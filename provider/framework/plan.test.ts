import { CtyValue, encodeMsgpack, fromPlain, rawEquals, toPlain } from "../protocol/cty";
import { computed, optional, optionalComputed, required } from "./attributes";
import { dataStateFromResult, firstUnknownPath, onlyTimeoutsChanged, planResourceChange, stateFromImport, stateFromResult } from "./plan";
import { BlockSchema, blockType } from "./schema";
import { timeouts } from "./timeouts";

const schema: BlockSchema = {
  description: "test",
  version: 0,
  attributes: {
    id: computed("string", { description: "id", keepPrior: true }),
    name: required("string", { description: "name", replace: true }),
    size: optional("number", { description: "size" }),
    note: optionalComputed("string", { description: "note" }),
    mode: optional("string", { description: "mode", default: "standard" }),
    revision: computed("number", { description: "revision" }),
  },
  timeouts: timeouts({ create: "20m", delete: "10m" }),
};
const type = blockType(schema);
const value = (plain: Record<string, unknown>) => fromPlain(type, plain);
const nullState = CtyValue.nullOf(type);
// Terraform's proposed new state: config, with computed attributes the config leaves null taken from prior.
function proposed(prior: CtyValue, config: CtyValue): CtyValue {
  const m = new Map<string, CtyValue>();
  for (const [name, spec] of Object.entries(schema.attributes)) {
    const c = config.getAttr(name);
    m.set(name, spec.mode !== "required" && spec.mode !== "optional" && c.isNull() && !prior.isNull() ? prior.getAttr(name) : c);
  }
  m.set("timeouts", config.getAttr("timeouts"));
  return CtyValue.object(m, type);
}
const plan = (prior: CtyValue, config: CtyValue) => planResourceChange(schema, prior, proposed(prior, config), config);

const prior = value({ id: "t-1", name: "a", size: 2, note: "server note", mode: "standard", revision: 1 });

describe("planResourceChange", () => {
  test("create: user values as configured, defaults applied, computed values unknown", () => {
    const { planned, requiresReplace } = plan(nullState, value({ name: "a", size: 2 }));
    expect(toPlain(planned)).toEqual({ id: undefined, name: "a", size: 2, note: undefined, mode: "standard", revision: undefined, timeouts: null });
    expect(planned.getAttr("id").isKnown()).toBe(false);
    expect(requiresReplace).toEqual([]);
  });

  test("create: a configured optional+computed value is planned as configured", () => {
    const { planned } = plan(nullState, value({ name: "a", note: "mine", mode: "fast" }));
    expect(toPlain(planned.getAttr("note"))).toBe("mine");
    expect(toPlain(planned.getAttr("mode"))).toBe("fast");
  });

  test("no change: the plan equals the prior state exactly, byte for byte", () => {
    const { planned, requiresReplace } = plan(prior, value({ name: "a", size: 2 }));
    expect(rawEquals(planned, prior)).toBe(true);
    expect(encodeMsgpack(planned, type).equals(encodeMsgpack(prior, type))).toBe(true);
    expect(requiresReplace).toEqual([]);
  });

  test("update in place: keepPrior values stay, other computed values become unknown", () => {
    const { planned, requiresReplace } = plan(prior, value({ name: "a", size: 3 }));
    expect(toPlain(planned.getAttr("id"))).toBe("t-1");
    expect(toPlain(planned.getAttr("size"))).toBe(3);
    expect(planned.getAttr("revision").isKnown()).toBe(false);
    expect(planned.getAttr("note").isKnown()).toBe(false);
    expect(requiresReplace).toEqual([]);
  });

  test("a change to a replace attribute is listed in requires_replace", () => {
    const { requiresReplace } = plan(prior, value({ name: "b", size: 2 }));
    expect(requiresReplace).toEqual([[{ attribute: "name" }]]);
  });

  test("an unknown value for a replace attribute also forces replacement", () => {
    const config = fromPlain(type, { name: Symbol.for("clonefleet.cty.unknown"), size: 2 });
    expect(plan(prior, config).requiresReplace).toEqual([[{ attribute: "name" }]]);
  });

  test("removing a defaulted attribute from the configuration plans its default", () => {
    const fast = value({ id: "t-1", name: "a", size: 2, note: "n", mode: "fast", revision: 1 });
    const { planned } = plan(fast, value({ name: "a", size: 2 }));
    expect(toPlain(planned.getAttr("mode"))).toBe("standard");
    expect(planned.getAttr("revision").isKnown()).toBe(false);
  });

  test("a change of timeouts only keeps every computed value and needs no engine call", () => {
    const { planned } = plan(prior, value({ name: "a", size: 2, timeouts: { create: "1h", delete: null } }));
    expect(toPlain(planned.getAttr("revision"))).toBe(1);
    expect(toPlain(planned.getAttr("timeouts"))).toEqual({ create: "1h", delete: null });
    expect(rawEquals(planned, prior)).toBe(false);
    expect(onlyTimeoutsChanged(schema, prior, planned)).toBe(true);
  });

  test("destroy: a null proposed state plans null", () => {
    const { planned } = planResourceChange(schema, prior, nullState, nullState);
    expect(planned.isNull()).toBe(true);
  });
});

describe("state from operation results", () => {
  const planned = plan(nullState, value({ name: "a", size: 2 })).planned;

  test("fields left undefined keep the planned value; unknown planned values become null", () => {
    const state = stateFromResult(schema, planned, { id: "t-9", revision: 1 });
    expect(toPlain(state)).toEqual({ id: "t-9", name: "a", size: 2, note: null, mode: "standard", revision: 1, timeouts: null });
  });

  test("a returned value equal to the planned one keeps the planned form exactly", () => {
    const exact = fromPlain(type, { name: "a", size: 2 }).withAttr("size", CtyValue.number("2.0"));
    const state = stateFromResult(schema, exact, { size: 2 });
    expect(state.getAttr("size").asNumber()).toBe(2);
    expect(rawEquals(state.getAttr("size"), exact.getAttr("size"))).toBe(true);
  });

  test("a value of the wrong type is refused with its attribute path", () => {
    expect(() => stateFromResult(schema, planned, { size: "big" })).toThrow(/size: a number is required/);
  });

  test("import starts from the id alone", () => {
    expect(toPlain(stateFromImport(schema, { id: "t-3" }))).toEqual({ id: "t-3", name: null, size: null, note: null, mode: null, revision: null, timeouts: null });
  });

  test("a data source keeps configured values and takes computed ones from the result", () => {
    const ds: BlockSchema = {
      description: "ds",
      version: 0,
      attributes: { id: required("string", { description: "id" }), name: computed("string", { description: "name" }) },
    };
    const config = fromPlain(blockType(ds), { id: "x" });
    expect(toPlain(dataStateFromResult(ds, config, { id: "other", name: "n" }))).toEqual({ id: "x", name: "n" });
  });

  test("finds the first unknown value", () => {
    expect(firstUnknownPath(planned)).toEqual([{ attribute: "id" }]);
    expect(firstUnknownPath(prior)).toBeUndefined();
  });
});

describe("attribute builders", () => {
  test("refuse inconsistent options", () => {
    expect(() => required("string", { description: "x", keepPrior: true })).toThrow(/keepPrior/);
    expect(() => computed("string", { description: "x", replace: true })).toThrow(/replacement/);
    expect(() => required("string", { description: "x", default: "a" })).toThrow(/default/);
    expect(() => optional("number", { description: "x", default: "a" })).toThrow(/number/);
    expect(() => optional("string", { description: "" })).toThrow(/description/);
  });

  test("a default makes an optional attribute optional+computed", () => {
    expect(optional("string", { description: "x", default: "a" }).mode).toBe("optionalComputed");
  });
});

describe("a default that applies only while other attributes are unset", () => {
  const own: BlockSchema = {
    description: "test",
    version: 0,
    attributes: {
      id: computed("string", { description: "id", keepPrior: true }),
      source: optional("string", { description: "source" }),
      mode: optional("string", { description: "mode", default: "pool", defaultUnlessSet: ["source"], replace: true }),
    },
  };
  const t = blockType(own);
  const v = (plain: Record<string, unknown>) => fromPlain(t, plain);
  const planOwn = (prior: CtyValue, config: CtyValue) => planResourceChange(own, prior, config, config);

  test("create: the default with the other unset; unknown (the server decides) with it set or unknown", () => {
    expect(toPlain(planOwn(CtyValue.nullOf(t), v({})).planned.getAttr("mode"))).toBe("pool");
    expect(planOwn(CtyValue.nullOf(t), v({ source: "x" })).planned.getAttr("mode").isKnown()).toBe(false);
    const unknownSource = CtyValue.object(new Map([["id", CtyValue.nullOf("string")], ["source", CtyValue.unknownOf("string")], ["mode", CtyValue.nullOf("string")]]), t);
    expect(planOwn(CtyValue.nullOf(t), unknownSource).planned.getAttr("mode").isKnown()).toBe(false);
  });

  test("update: with the other set, a null mode read back stays null and plans no replacement", () => {
    const prior = v({ id: "x-1", source: "x", mode: null });
    const { planned, requiresReplace } = planOwn(prior, v({ source: "x" }));
    expect(rawEquals(planned, prior)).toBe(true);
    expect(requiresReplace).toEqual([]);
  });

  test("defaultUnlessSet without a default is refused", () => {
    expect(() => optional("string", { description: "m", defaultUnlessSet: ["source"] })).toThrow(/needs a default/);
  });
});
