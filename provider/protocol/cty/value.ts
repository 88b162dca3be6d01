/**
 * cty values: every value has a type and is known, null or unknown; null and unknown are
 * distinct states, not JS null/undefined, so a plan can say "known after apply" exactly.
 */
import { CtyNumber, numberEquals, toCtyNumber } from "./number";
import { CtyType, CtyTypeError, compareUtf8, objectAttributes, typeKind, typeToJson } from "./types";

/** The msgpack extension an unknown value arrived with (refinements), kept so it can be sent back unchanged. */
export interface UnknownExtension {
  readonly code: number;
  readonly data: Uint8Array;
}

type Known = string | CtyNumber | boolean | readonly CtyValue[] | ReadonlyMap<string, CtyValue>;

type State =
  | { readonly k: "known"; readonly v: Known }
  | { readonly k: "null" }
  | { readonly k: "unknown"; readonly ext?: UnknownExtension };

/** One cty value; construct with the static factories, never mutate. */
export class CtyValue {
  private constructor(
    readonly type: CtyType,
    private readonly state: State,
  ) {}

  /** A null value of the given type. */
  static nullOf(type: CtyType): CtyValue {
    return new CtyValue(type, { k: "null" });
  }

  /** An unknown value of the given type, optionally with the extension bytes it was received with. */
  static unknownOf(type: CtyType, ext?: UnknownExtension): CtyValue {
    return new CtyValue(type, ext ? { k: "unknown", ext } : { k: "unknown" });
  }

  /** A known string, normalized to NFC as cty does. */
  static string(s: string): CtyValue {
    return new CtyValue("string", { k: "known", v: s.normalize("NFC") });
  }

  /** A known number from a double, bigint or decimal text; throws CtyNumberError for NaN or bad text. */
  static number(n: number | bigint | string): CtyValue {
    return new CtyValue("number", { k: "known", v: toCtyNumber(n) });
  }

  /** A known bool. */
  static bool(b: boolean): CtyValue {
    return new CtyValue("bool", { k: "known", v: b });
  }

  /** A known list with elements of the given type. */
  static list(element: CtyType, items: readonly CtyValue[]): CtyValue {
    return new CtyValue(["list", element], { k: "known", v: [...items] });
  }

  /** A known set with elements of the given type; equal known elements collapse into one. */
  static set(element: CtyType, items: readonly CtyValue[]): CtyValue {
    const unique: CtyValue[] = [];
    for (const item of items) {
      if (item.isWhollyKnown() && unique.some((u) => rawEquals(u, item))) continue;
      unique.push(item);
    }
    return new CtyValue(["set", element], { k: "known", v: unique });
  }

  /** A known map with elements of the given type. */
  static map(element: CtyType, entries: ReadonlyMap<string, CtyValue> | { readonly [k: string]: CtyValue }): CtyValue {
    const m = entries instanceof Map ? new Map(entries) : new Map(Object.entries(entries));
    return new CtyValue(["map", element], { k: "known", v: m });
  }

  /**
   * A known object. With a type, attributes missing from `attrs` become null of their type and
   * extra attributes throw CtyTypeError; without one the type is inferred from the values.
   */
  static object(attrs: ReadonlyMap<string, CtyValue> | { readonly [k: string]: CtyValue }, type?: CtyType): CtyValue {
    const given = attrs instanceof Map ? new Map(attrs) : new Map(Object.entries(attrs));
    if (!type) {
      const inferred: Record<string, CtyType> = {};
      for (const [k, v] of given) inferred[k] = v.type;
      return new CtyValue(["object", inferred], { k: "known", v: given });
    }
    const attrTypes = objectAttributes(type);
    for (const k of given.keys()) {
      if (!(k in attrTypes)) throw new CtyTypeError(`unsupported attribute ${JSON.stringify(k)}`);
    }
    const full = new Map<string, CtyValue>();
    for (const k of Object.keys(attrTypes)) full.set(k, given.get(k) ?? CtyValue.nullOf(attrTypes[k]));
    return new CtyValue(type, { k: "known", v: full });
  }

  /** A known tuple. */
  static tuple(items: readonly CtyValue[], type?: CtyType): CtyValue {
    return new CtyValue(type ?? ["tuple", items.map((i) => i.type)], { k: "known", v: [...items] });
  }

  /** True for a null value. */
  isNull(): boolean {
    return this.state.k === "null";
  }

  /** True unless the value itself is unknown (elements may still be unknown). */
  isKnown(): boolean {
    return this.state.k !== "unknown";
  }

  /** True when neither the value nor anything inside it is unknown. */
  isWhollyKnown(): boolean {
    if (this.state.k === "unknown") return false;
    if (this.state.k === "null") return true;
    const v = this.state.v;
    if (Array.isArray(v)) return (v as CtyValue[]).every((e) => e.isWhollyKnown());
    if (v instanceof Map) return [...v.values()].every((e) => e.isWhollyKnown());
    return true;
  }

  /** The extension bytes an unknown value was received with, if any. */
  unknownExtension(): UnknownExtension | undefined {
    return this.state.k === "unknown" ? this.state.ext : undefined;
  }

  private known(what: string): Known {
    if (this.state.k !== "known") throw new CtyTypeError(`${what} of a ${this.state.k} value`);
    return this.state.v;
  }

  /** The string of a known string value; throws CtyTypeError otherwise. */
  asString(): string {
    if (this.type !== "string") throw new CtyTypeError(`not a string: ${typeToJson(this.type)}`);
    return this.known("string") as string;
  }

  /** The number of a known number value; throws CtyTypeError otherwise. */
  asNumber(): CtyNumber {
    if (this.type !== "number") throw new CtyTypeError(`not a number: ${typeToJson(this.type)}`);
    return this.known("number") as CtyNumber;
  }

  /** The bool of a known bool value; throws CtyTypeError otherwise. */
  asBool(): boolean {
    if (this.type !== "bool") throw new CtyTypeError(`not a bool: ${typeToJson(this.type)}`);
    return this.known("bool") as boolean;
  }

  /** Elements of a known list, set or tuple; throws CtyTypeError otherwise. */
  elements(): readonly CtyValue[] {
    const v = this.known("elements");
    if (!Array.isArray(v)) throw new CtyTypeError(`not a sequence: ${typeToJson(this.type)}`);
    return v as readonly CtyValue[];
  }

  /** Entries of a known map or object; throws CtyTypeError otherwise. */
  entries(): ReadonlyMap<string, CtyValue> {
    const v = this.known("entries");
    if (!(v instanceof Map)) throw new CtyTypeError(`not a map or object: ${typeToJson(this.type)}`);
    return v;
  }

  /**
   * One attribute of an object: null or unknown objects give null or unknown attributes, as
   * in cty; throws CtyTypeError when the type has no such attribute.
   */
  getAttr(name: string): CtyValue {
    const attrs = objectAttributes(this.type);
    if (!(name in attrs)) throw new CtyTypeError(`no attribute ${JSON.stringify(name)}`);
    if (this.state.k === "null") return CtyValue.nullOf(attrs[name]);
    if (this.state.k === "unknown") return CtyValue.unknownOf(attrs[name]);
    return this.entries().get(name) ?? CtyValue.nullOf(attrs[name]);
  }

  /** A copy of a known object with one attribute replaced. */
  withAttr(name: string, value: CtyValue): CtyValue {
    const m = new Map(this.entries());
    m.set(name, value);
    return CtyValue.object(m, this.type);
  }

  /** A readable rendering for messages and test failures (not an encoding). */
  toString(): string {
    return render(this);
  }
}

function render(v: CtyValue): string {
  if (v.isNull()) return `null`;
  if (!v.isKnown()) return `(unknown ${typeKind(v.type)})`;
  switch (typeKind(v.type)) {
    case "string":
      return JSON.stringify(v.asString());
    case "number":
      return String(v.asNumber());
    case "bool":
      return String(v.asBool());
    case "list":
    case "set":
    case "tuple":
      return `[${v.elements().map(render).join(", ")}]`;
    default:
      return `{${[...v.entries()].map(([k, e]) => `${k}: ${render(e)}`).join(", ")}}`;
  }
}

function extEquals(a?: UnknownExtension, b?: UnknownExtension): boolean {
  if (!a || !b) return !a && !b;
  return a.code === b.code && Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0;
}

/**
 * Exact equality as cty's RawEquals: unknown equals unknown (with the same refinements), null
 * equals null, numbers compare by decimal value, sets ignore order.
 */
export function rawEquals(a: CtyValue, b: CtyValue): boolean {
  if (!a.isKnown() || !b.isKnown()) return !a.isKnown() && !b.isKnown() && extEquals(a.unknownExtension(), b.unknownExtension());
  if (a.isNull() || b.isNull()) return a.isNull() && b.isNull();
  const ka = typeKind(a.type);
  const kb = typeKind(b.type);
  if (ka !== kb) return false;
  switch (ka) {
    case "string":
      return a.asString() === b.asString();
    case "number":
      return numberEquals(a.asNumber(), b.asNumber());
    case "bool":
      return a.asBool() === b.asBool();
    case "list":
    case "tuple": {
      const ea = a.elements();
      const eb = b.elements();
      return ea.length === eb.length && ea.every((e, i) => rawEquals(e, eb[i]));
    }
    case "set": {
      const ea = a.elements();
      const eb = b.elements();
      if (ea.length !== eb.length) return false;
      const used = new Set<number>();
      return ea.every((e) => {
        const i = eb.findIndex((x, j) => !used.has(j) && rawEquals(e, x));
        if (i < 0) return false;
        used.add(i);
        return true;
      });
    }
    default: {
      const ma = a.entries();
      const mb = b.entries();
      if (ma.size !== mb.size) return false;
      for (const [k, v] of ma) {
        const w = mb.get(k);
        if (!w || !rawEquals(v, w)) return false;
      }
      return true;
    }
  }
}

/** A stable order for set elements: primitives by value, everything else by rendering. */
export function compareSetElements(a: CtyValue, b: CtyValue): number {
  const rank = (v: CtyValue) => (!v.isKnown() ? 2 : v.isNull() ? 1 : 0);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (rank(a) !== 0) return 0;
  if (a.type === "string" && b.type === "string") return compareUtf8(a.asString(), b.asString());
  if (a.type === "number" && b.type === "number") {
    const x = Number(a.asNumber());
    const y = Number(b.asNumber());
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.type === "bool" && b.type === "bool") return Number(a.asBool()) - Number(b.asBool());
  return compareUtf8(render(a), render(b));
}

/** A known object of the given object type whose attributes are all null. */
export function emptyObject(type: CtyType): CtyValue {
  return CtyValue.object(new Map(), type);
}
