import { decode as referenceDecode } from "@msgpack/msgpack";
import {
  CtyType,
  CtyValue,
  UNKNOWN,
  decodeJson,
  decodeMsgpack,
  encodeJson,
  encodeMsgpack,
  fromPlain,
  parseTypeJson,
  rawEquals,
  toPlain,
  typeToJson,
} from "../../provider/protocol/cty";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");
const str = (s: string) => Buffer.from(s, "utf8").toString("hex");

/** Each case: a value, the schema type it is written for, and the exact bytes go-cty writes. */
const cases: Array<[string, CtyValue, CtyType, string]> = [
  ["string", CtyValue.string("hello"), "string", "a5" + str("hello")],
  ["empty string", CtyValue.string(""), "string", "a0"],
  ["string of 40 bytes (str8)", CtyValue.string("x".repeat(40)), "string", "d928" + str("x".repeat(40))],
  ["number 0", CtyValue.number(0), "number", "00"],
  ["number 127 (positive fixint)", CtyValue.number(127), "number", "7f"],
  ["number 200 (uint8)", CtyValue.number(200), "number", "ccc8"],
  ["number 1000 (uint16)", CtyValue.number(1000), "number", "cd03e8"],
  ["number 70000 (uint32)", CtyValue.number(70000), "number", "ce00011170"],
  ["number 2^32 (uint64)", CtyValue.number(2 ** 32), "number", "cf0000000100000000"],
  ["number -1 (negative fixint)", CtyValue.number(-1), "number", "ff"],
  ["number -32", CtyValue.number(-32), "number", "e0"],
  ["number -100 (int8)", CtyValue.number(-100), "number", "d09c"],
  ["number -200 (int16)", CtyValue.number(-200), "number", "d1ff38"],
  ["number -40000 (int32)", CtyValue.number(-40000), "number", "d2ffff63c0"],
  ["number -2^40 (int64)", CtyValue.number(-(2 ** 40)), "number", "d3ffffff0000000000"],
  ["integer beyond 2^53 stays exact (uint64)", CtyValue.number("9007199254740993"), "number", "cf0020000000000001"],
  ["float 1.5", CtyValue.number(1.5), "number", "cb3ff8000000000000"],
  ["float 0.1", CtyValue.number(0.1), "number", "cb3fb999999999999a"],
  ["float -2.5", CtyValue.number(-2.5), "number", "cbc004000000000000"],
  ["integer 2^70 is an exact double (float64)", CtyValue.number(2n ** 70n), "number", "cb4450000000000000"],
  ["big integer neither int64 nor double (string)", CtyValue.number("18446744073709551617"), "number", "b4" + str("18446744073709551617")],
  ["precise decimal (string)", CtyValue.number("0.1"), "number", "a3" + str("0.1")],
  ["bool true", CtyValue.bool(true), "bool", "c3"],
  ["bool false", CtyValue.bool(false), "bool", "c2"],
  ["null string", CtyValue.nullOf("string"), "string", "c0"],
  ["null list", CtyValue.nullOf(["list", "string"]), ["list", "string"], "c0"],
  ["unknown string", CtyValue.unknownOf("string"), "string", "d40000"],
  ["unknown object", CtyValue.unknownOf(["object", { a: "string" }]), ["object", { a: "string" }], "d40000"],
  ["list", CtyValue.list("string", [CtyValue.string("a"), CtyValue.string("b")]), ["list", "string"], "92a161a162"],
  ["empty list", CtyValue.list("number", []), ["list", "number"], "90"],
  ["list with null and unknown", CtyValue.list("string", [CtyValue.nullOf("string"), CtyValue.unknownOf("string")]), ["list", "string"], "92c0d40000"],
  ["set (written in a stable order)", CtyValue.set("string", [CtyValue.string("b"), CtyValue.string("a")]), ["set", "string"], "92a161a162"],
  ["set of numbers", CtyValue.set("number", [CtyValue.number(10), CtyValue.number(2)]), ["set", "number"], "92020a"],
  ["map with sorted keys", CtyValue.map("number", { b: CtyValue.number(1), a: CtyValue.number(2) }), ["map", "number"], "82a16102a16201"],
  ["empty map", CtyValue.map("string", {}), ["map", "string"], "80"],
  [
    "object with sorted attribute names",
    CtyValue.object({ size: CtyValue.number(3), name: CtyValue.string("x") }, ["object", { size: "number", name: "string" }]),
    ["object", { size: "number", name: "string" }],
    "82a46e616d65a178a473697a6503",
  ],
  [
    "object with null and unknown attributes",
    CtyValue.object({ id: CtyValue.unknownOf("string") }, ["object", { id: "string", tags: ["map", "string"] }]),
    ["object", { id: "string", tags: ["map", "string"] }],
    "82a26964d40000a474616773c0",
  ],
  ["tuple", CtyValue.tuple([CtyValue.string("a"), CtyValue.number(1), CtyValue.bool(true)]), ["tuple", ["string", "number", "bool"]], "93a16101c3"],
  ["dynamic string", CtyValue.string("x"), "dynamic", "92c408" + str('"string"') + "a178"],
  ["dynamic list", CtyValue.list("number", [CtyValue.number(1)]), "dynamic", "92c411" + str('["list","number"]') + "9101"],
  [
    "dynamic object",
    CtyValue.object({ b: CtyValue.bool(true), a: CtyValue.string("") }),
    "dynamic",
    "92c424" + str('["object",{"a":"string","b":"bool"}]') + "82a161a0a162c3",
  ],
  ["dynamic typed null", CtyValue.nullOf("string"), "dynamic", "92c408" + str('"string"') + "c0"],
  ["dynamic null", CtyValue.nullOf("dynamic"), "dynamic", "c0"],
  ["dynamic unknown", CtyValue.unknownOf("dynamic"), "dynamic", "d40000"],
  [
    "object attribute of dynamic type",
    CtyValue.object({ v: CtyValue.number(5) }, ["object", { v: "dynamic" }]),
    ["object", { v: "dynamic" }],
    "81a17692c408" + str('"number"') + "05",
  ],
];

describe("msgpack DynamicValue codec (go-cty byte for byte)", () => {
  test.each(cases)("encodes %s", (_name, value, type, expected) => {
    expect(hex(encodeMsgpack(value, type))).toBe(expected);
  });

  test.each(cases)("decodes %s", (_name, value, type, encoded) => {
    const decoded = decodeMsgpack(bytes(encoded), type);
    expect(rawEquals(decoded, value)).toBe(true);
    expect(decoded.isNull()).toBe(value.isNull());
    expect(decoded.isKnown()).toBe(value.isKnown());
  });

  test("a reference msgpack decoder reads our object bytes as the same data", () => {
    const type: CtyType = ["object", { name: "string", sizes: ["list", "number"], tags: ["map", "string"], ok: "bool" }];
    const value = fromPlain(type, { name: "vm-1", sizes: [1, 2.5, -7], tags: { env: "test" }, ok: true });
    expect(referenceDecode(encodeMsgpack(value, type))).toEqual({ name: "vm-1", ok: true, sizes: [1, 2.5, -7], tags: { env: "test" } });
  });

  test("any extension value reads as unknown, and refinements are sent back unchanged", () => {
    const refined = bytes("c7030c8101c2"); // ext 12 holding {1: false}: "unknown, but not null"
    const v = decodeMsgpack(refined, "string");
    expect(v.isKnown()).toBe(false);
    expect(hex(encodeMsgpack(v, "string"))).toBe("c7030c8101c2");
    for (const ext of ["d50500ff", "d6070000000a", "c70005"]) {
      expect(decodeMsgpack(bytes(ext), ["list", "string"]).isKnown()).toBe(false);
    }
  });

  test("other valid encodings of the same values are accepted", () => {
    expect(toPlain(decodeMsgpack(bytes("d30000000000000005"), "number"))).toBe(5);
    expect(toPlain(decodeMsgpack(bytes("ca3fc00000"), "number"))).toBe(1.5);
    expect(toPlain(decodeMsgpack(bytes("d903616263"), "string"))).toBe("abc");
    expect(toPlain(decodeMsgpack(bytes("dc0001a178"), ["list", "string"]))).toEqual(["x"]);
    // The type half of a dynamic pair may arrive as str instead of bin.
    expect(toPlain(decodeMsgpack(bytes("92a8" + str('"string"') + "a178"), "dynamic"))).toBe("x");
  });

  test("big numbers keep their exact value through a round trip", () => {
    const v = decodeMsgpack(bytes("b4" + str("18446744073709551617")), "number");
    expect(v.asNumber()).toBe("18446744073709551617");
    const i = decodeMsgpack(bytes("cf0020000000000001"), "number");
    expect(i.asNumber()).toBe("9007199254740993");
    expect(hex(encodeMsgpack(i, "number"))).toBe("cf0020000000000001");
  });

  test("a precise decimal equals the double with the same shortest text", () => {
    expect(rawEquals(CtyValue.number("0.1"), CtyValue.number(0.1))).toBe(true);
    expect(rawEquals(CtyValue.number("1e3"), CtyValue.number(1000))).toBe(true);
    expect(rawEquals(CtyValue.number(1), CtyValue.number(2))).toBe(false);
  });

  test("malformed input is refused with the place it went wrong", () => {
    const type: CtyType = ["object", { name: "string" }];
    expect(() => decodeMsgpack(bytes("81a46e616d6501"), type)).toThrow(/name: string is required/);
    expect(() => decodeMsgpack(bytes("81a178a178"), type)).toThrow(/unsupported attribute "x"/);
    expect(() => decodeMsgpack(bytes("a5616263"), "string")).toThrow(/end of msgpack/);
    expect(() => decodeMsgpack(bytes("c0c0"), "string")).toThrow(/trailing bytes/);
  });
});

describe("type JSON", () => {
  test("is written with sorted attribute names and optional attributes last", () => {
    const t = parseTypeJson('["object",{"z":"string","a":["list","number"],"m":"bool"},["z","a"]]');
    expect(typeToJson(t)).toBe('["object",{"a":["list","number"],"m":"bool","z":"string"},["a","z"]]');
    expect(typeToJson(["tuple", ["string", ["set", "dynamic"]]])).toBe('["tuple",["string",["set","dynamic"]]]');
    expect(typeToJson(["map", ["object", { "a<b": "string" }]])).toBe('["map",["object",{"a\\u003cb":"string"}]]');
  });

  test("rejects what is not a type", () => {
    expect(() => parseTypeJson('"text"')).toThrow();
    expect(() => parseTypeJson('["list"]')).toThrow();
    expect(() => parseTypeJson('["object",{"a":"string"},["b"]]')).toThrow();
  });
});

describe("JSON values (DynamicValue.json, RawState.json)", () => {
  const type: CtyType = ["object", { id: "string", size: "number", tags: ["map", "string"], ids: ["set", "string"], extra: "dynamic" }];

  test("decodes against a type, missing attributes as null, numbers exact", () => {
    const v = decodeJson('{"id":"a","size":123456789012345678901234567890,"ids":["x","y"],"extra":{"value":[1,"b"],"type":["tuple",["number","string"]]}}', type);
    expect(v.getAttr("size").asNumber()).toBe("123456789012345678901234567890");
    expect(v.getAttr("tags").isNull()).toBe(true);
    expect(toPlain(v.getAttr("extra"))).toEqual([1, "b"]);
    expect(toPlain(v.getAttr("ids"))).toEqual(["x", "y"]);
  });

  test("encodes as go-cty does: sorted keys, dynamic as value and type", () => {
    const v = fromPlain(type, { id: "a", size: 1.5, tags: { b: "2", a: "1" }, ids: ["q"], extra: "s" });
    expect(encodeJson(v, type)).toBe('{"extra":{"value":"s","type":"string"},"id":"a","ids":["q"],"size":1.5,"tags":{"a":"1","b":"2"}}');
  });

  test("unknown attributes fail unless asked to be ignored (state from an older schema)", () => {
    expect(() => decodeJson('{"id":"a","gone":1}', type)).toThrow(/unsupported attribute "gone"/);
    expect(decodeJson('{"id":"a","gone":1}', type, { ignoreUnknownAttributes: true }).getAttr("id").asString()).toBe("a");
  });

  test("refuses to write unknown values", () => {
    expect(() => encodeJson(CtyValue.unknownOf("string"), "string")).toThrow(/unknown/);
  });
});

describe("plain JS conversion", () => {
  const type: CtyType = ["object", { name: "string", count: "number", on: "bool", items: ["list", ["object", { k: "string" }]] }];

  test("round-trips an object, null and unknown", () => {
    const v = fromPlain(type, { name: "a", count: 2, on: null, items: [{ k: "x" }] });
    expect(toPlain(v)).toEqual({ name: "a", count: 2, on: null, items: [{ k: "x" }] });
    const u = fromPlain(type, { name: UNKNOWN });
    expect(toPlain(u, { unknownAs: "marker" })).toEqual({ name: UNKNOWN, count: null, on: null, items: null });
    expect(toPlain(u)).toEqual({ name: undefined, count: null, on: null, items: null });
  });

  test("names the path of a mismatch", () => {
    expect(() => fromPlain(type, { items: [{ k: 3 }] })).toThrow(/items\[0\]\.k: a string is required/);
    expect(() => fromPlain(type, { nope: 1 })).toThrow(/unsupported attribute "nope"/);
  });
});
