/**
 * Conversion between cty values and plain JS data for a given type: null is null, an unknown
 * value is `undefined` (or the UNKNOWN marker when asked), numbers are JS numbers, lists,
 * sets and tuples are arrays, maps and objects are plain objects keyed like the schema.
 */
import { numberToDouble } from "./number";
import { CtyType, friendlyTypeName, objectAttributes, typeKind } from "./types";
import { CtyValue } from "./value";
import { PathStep, formatPath } from "../path";

/** Marks an unknown value in plain data (test drivers use it to write "known after apply" inputs). */
export const UNKNOWN: unique symbol = Symbol.for("clonefleet.cty.unknown");

/** Thrown when plain data does not fit the type; `path` names the place. */
export class CtyConversionError extends Error {
  constructor(
    message: string,
    readonly path: PathStep[],
  ) {
    super(path.length ? `${formatPath(path)}: ${message}` : message);
    this.name = "CtyConversionError";
  }
}

/** Options for toPlain. */
export interface ToPlainOptions {
  /** What an unknown value becomes: `undefined` (the default) or the UNKNOWN marker. */
  unknownAs?: "undefined" | "marker";
}

/** Converts a value to plain JS data; number text that a double cannot hold exactly is rounded. */
export function toPlain(v: CtyValue, opts: ToPlainOptions = {}): unknown {
  if (!v.isKnown()) return opts.unknownAs === "marker" ? UNKNOWN : undefined;
  if (v.isNull()) return null;
  switch (typeKind(v.type)) {
    case "string":
      return v.asString();
    case "number":
      return numberToDouble(v.asNumber());
    case "bool":
      return v.asBool();
    case "list":
    case "set":
    case "tuple":
      return v.elements().map((e) => toPlain(e, opts));
    default: {
      const out: Record<string, unknown> = {};
      for (const [k, e] of v.entries()) {
        Object.defineProperty(out, k, { value: toPlain(e, opts), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
  }
}

function inferType(js: unknown, path: PathStep[]): CtyType {
  if (typeof js === "string") return "string";
  if (typeof js === "number" || typeof js === "bigint") return "number";
  if (typeof js === "boolean") return "bool";
  if (js === null || js === undefined || js === UNKNOWN) return "dynamic";
  if (Array.isArray(js)) return ["tuple", js.map((e, i) => inferType(e, [...path, { index: i }]))];
  if (typeof js === "object") {
    const attrs: Record<string, CtyType> = {};
    for (const [k, e] of Object.entries(js as object)) attrs[k] = inferType(e, [...path, { attribute: k }]);
    return ["object", attrs];
  }
  throw new CtyConversionError(`cannot represent ${typeof js} as a value`, path);
}

/**
 * Converts plain JS data to a value of the given type: null and undefined become null, the
 * UNKNOWN marker an unknown value; throws CtyConversionError naming the path on a mismatch.
 */
export function fromPlain(t: CtyType, js: unknown, path: PathStep[] = []): CtyValue {
  if (js === UNKNOWN) return CtyValue.unknownOf(t);
  if (js === null || js === undefined) return CtyValue.nullOf(t);
  const fail = (): never => {
    throw new CtyConversionError(`a ${friendlyTypeName(t)} is required, got ${Array.isArray(js) ? "an array" : typeof js}`, path);
  };
  switch (typeKind(t)) {
    case "dynamic":
      return fromPlain(inferType(js, path), js, path);
    case "string":
      return typeof js === "string" ? CtyValue.string(js) : fail();
    case "number":
      if (typeof js === "number") {
        if (Number.isNaN(js)) throw new CtyConversionError("NaN is not a number value", path);
        return CtyValue.number(js);
      }
      return typeof js === "bigint" ? CtyValue.number(js) : fail();
    case "bool":
      return typeof js === "boolean" ? CtyValue.bool(js) : fail();
    case "list":
    case "set": {
      const items = js instanceof Set ? [...js] : Array.isArray(js) ? js : fail();
      const et = (t as readonly [string, CtyType])[1];
      const values = items.map((e, i) => fromPlain(et, e, [...path, { index: i }]));
      return typeKind(t) === "list" ? CtyValue.list(et, values) : CtyValue.set(et, values);
    }
    case "tuple": {
      const ets = (t as readonly ["tuple", readonly CtyType[]])[1];
      if (!Array.isArray(js)) return fail();
      if (js.length !== ets.length) throw new CtyConversionError(`a tuple of ${ets.length} elements is required`, path);
      return CtyValue.tuple(
        js.map((e, i) => fromPlain(ets[i], e, [...path, { index: i }])),
        t,
      );
    }
    case "map": {
      if (typeof js !== "object" || Array.isArray(js)) return fail();
      const et = (t as readonly ["map", CtyType])[1];
      const entries = js instanceof Map ? [...js.entries()] : Object.entries(js as object);
      const m = new Map<string, CtyValue>();
      for (const [k, e] of entries) m.set(String(k), fromPlain(et, e, [...path, { key: String(k) }]));
      return CtyValue.map(et, m);
    }
    case "object": {
      if (typeof js !== "object" || Array.isArray(js)) return fail();
      const attrs = objectAttributes(t);
      const m = new Map<string, CtyValue>();
      for (const [k, e] of Object.entries(js as object)) {
        if (!Object.prototype.hasOwnProperty.call(attrs, k)) {
          throw new CtyConversionError(`unsupported attribute ${JSON.stringify(k)}`, path);
        }
        m.set(k, fromPlain(attrs[k], e, [...path, { attribute: k }]));
      }
      return CtyValue.object(m, t);
    }
  }
}
