/**
 * The JSON form of values (DynamicValue.json and RawState.json, the state file's form), as
 * go-cty's json package reads and writes it. Numbers keep their exact text; a value in a
 * `dynamic` slot is {"value": ..., "type": ...}.
 */
import { numberText } from "./number";
import { CtyType, goJsonString, parseType, sortedKeys, typeKind, typeToJson } from "./types";
import { CtyValue } from "./value";
import { concreteType } from "./msgpack";

/** Thrown when JSON text is malformed or does not fit the expected type. */
export class CtyJsonError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = "CtyJsonError";
  }
}

class JsonNumber {
  constructor(readonly text: string) {}
}

type JsonNode = null | boolean | string | JsonNumber | JsonNode[] | Map<string, JsonNode>;

/** A JSON parser that keeps number literals as text, so big and precise numbers survive. */
function parseJson(text: string): JsonNode {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i])) i++;
  };
  const bad = (what: string): never => {
    throw new CtyJsonError(`invalid JSON at offset ${i}: ${what}`, "");
  };
  const value = (): JsonNode => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const m = new Map<string, JsonNode>();
      ws();
      if (text[i] === "}") return (i++, m);
      for (;;) {
        ws();
        if (text[i] !== '"') bad("expected a key");
        const k = str();
        ws();
        if (text[i++] !== ":") bad("expected ':'");
        m.set(k, value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return (i++, m);
        else bad("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const a: JsonNode[] = [];
      ws();
      if (text[i] === "]") return (i++, a);
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return (i++, a);
        else bad("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    for (const [lit, v] of [
      ["true", true],
      ["false", false],
      ["null", null],
    ] as const) {
      if (text.startsWith(lit, i)) return ((i += lit.length), v);
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return bad("unexpected character");
    i += m[0].length;
    return new JsonNumber(m[0]);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) bad("unterminated string");
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const v = value();
  ws();
  if (i !== text.length) bad("trailing characters");
  return v;
}

/** Options for decodeJson. */
export interface DecodeJsonOptions {
  /** Drop object attributes the type does not have (state written by an older schema) instead of failing. */
  ignoreUnknownAttributes?: boolean;
}

function fromJson(n: JsonNode, t: CtyType, path: string, opts: DecodeJsonOptions): CtyValue {
  const fail = (msg: string): never => {
    throw new CtyJsonError(msg, path);
  };
  if (t === "dynamic") {
    if (n === null) return CtyValue.nullOf("dynamic");
    if (!(n instanceof Map) || !n.has("type") || !n.has("value")) return fail("a dynamic value needs \"value\" and \"type\"");
    const tn = n.get("type");
    let inner: CtyType;
    try {
      inner = parseType(jsonToPlain(tn ?? null));
    } catch (e) {
      return fail((e as Error).message);
    }
    return fromJson(n.get("value") ?? null, inner, path, opts);
  }
  if (n === null) return CtyValue.nullOf(t);
  const sub = (step: string) => (path ? `${path}${step.startsWith("[") ? "" : "."}${step}` : step);
  switch (typeKind(t)) {
    // Like go-cty, primitives accept each other's JSON spellings: old state files contain them.
    case "string":
      if (typeof n === "string") return CtyValue.string(n);
      if (n instanceof JsonNumber) return CtyValue.string(n.text);
      if (typeof n === "boolean") return CtyValue.string(String(n));
      return fail("string is required");
    case "number":
      if (n instanceof JsonNumber) return CtyValue.number(n.text);
      if (typeof n === "string") {
        try {
          return CtyValue.number(n);
        } catch {
          return fail("number is required");
        }
      }
      return fail("number is required");
    case "bool":
      if (typeof n === "boolean") return CtyValue.bool(n);
      if (n === "true" || n === "false") return CtyValue.bool(n === "true");
      return fail("bool is required");
    case "list":
    case "set": {
      if (!Array.isArray(n)) return fail(`a ${typeKind(t)} is required`);
      const et = (t as readonly [string, CtyType])[1];
      const items = n.map((e, i) => fromJson(e, et, sub(`[${i}]`), opts));
      return typeKind(t) === "list" ? CtyValue.list(et, items) : CtyValue.set(et, items);
    }
    case "tuple": {
      const ets = (t as readonly ["tuple", readonly CtyType[]])[1];
      if (!Array.isArray(n) || n.length !== ets.length) return fail(`a tuple of length ${ets.length} is required`);
      return CtyValue.tuple(
        n.map((e, i) => fromJson(e, ets[i], sub(`[${i}]`), opts)),
        t,
      );
    }
    case "map": {
      if (!(n instanceof Map)) return fail("a map is required");
      const et = (t as readonly ["map", CtyType])[1];
      const m = new Map<string, CtyValue>();
      for (const [k, e] of n) m.set(k, fromJson(e, et, sub(`[${JSON.stringify(k)}]`), opts));
      return CtyValue.map(et, m);
    }
    case "object": {
      if (!(n instanceof Map)) return fail("an object is required");
      const attrs = (t as readonly ["object", { readonly [k: string]: CtyType }])[1];
      const m = new Map<string, CtyValue>();
      for (const [k, e] of n) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k)) {
          if (opts.ignoreUnknownAttributes) continue;
          return fail(`unsupported attribute ${JSON.stringify(k)}`);
        }
        m.set(k, fromJson(e, attrs[k], sub(k), opts));
      }
      return CtyValue.object(m, t);
    }
    default:
      return fail(`cannot decode type ${typeToJson(t)}`);
  }
}

function jsonToPlain(n: JsonNode): unknown {
  if (n instanceof JsonNumber) return Number(n.text);
  if (Array.isArray(n)) return n.map(jsonToPlain);
  if (n instanceof Map) return Object.fromEntries([...n].map(([k, v]) => [k, jsonToPlain(v)]));
  return n;
}

/** Decodes JSON text as a value of the given type, as go-cty's json.Unmarshal does; throws CtyJsonError. */
export function decodeJson(text: string | Uint8Array, t: CtyType, opts: DecodeJsonOptions = {}): CtyValue {
  const s = typeof text === "string" ? text : Buffer.from(text).toString("utf8");
  return fromJson(parseJson(s), t, "", opts);
}

function toJson(v: CtyValue, t: CtyType, path: string): string {
  if (!v.isKnown()) throw new CtyJsonError("an unknown value cannot be written as JSON", path);
  if (t === "dynamic" && v.type !== "dynamic") {
    const ct = concreteType(v);
    return `{"value":${toJson(v, ct, path)},"type":${typeToJson(ct)}}`;
  }
  if (v.isNull()) return "null";
  switch (typeKind(t)) {
    case "string":
      return goJsonString(v.asString());
    case "number": {
      const text = numberText(v.asNumber());
      if (text.endsWith("Inf")) throw new CtyJsonError("infinity cannot be written as JSON", path);
      return text;
    }
    case "bool":
      return String(v.asBool());
    case "list":
    case "set":
      return `[${v.elements().map((e, i) => toJson(e, (t as readonly [string, CtyType])[1], `${path}[${i}]`)).join(",")}]`;
    case "tuple":
      return `[${v.elements().map((e, i) => toJson(e, (t as readonly ["tuple", readonly CtyType[]])[1][i], `${path}[${i}]`)).join(",")}]`;
    case "map": {
      const m = v.entries();
      const et = (t as readonly ["map", CtyType])[1];
      return `{${sortedKeys(m).map((k) => `${goJsonString(k)}:${toJson(m.get(k)!, et, `${path}[${JSON.stringify(k)}]`)}`).join(",")}}`;
    }
    case "object": {
      const attrs = (t as readonly ["object", { readonly [k: string]: CtyType }])[1];
      return `{${sortedKeys(attrs).map((k) => `${goJsonString(k)}:${toJson(v.getAttr(k), attrs[k], path ? `${path}.${k}` : k)}`).join(",")}}`;
    }
    default:
      throw new CtyJsonError(`cannot encode type ${typeToJson(t)}`, path);
  }
}

/** Encodes a wholly known value as JSON text the way go-cty's json.Marshal does; throws CtyJsonError for unknowns. */
export function encodeJson(v: CtyValue, t: CtyType): string {
  return toJson(v, t, "");
}
