/**
 * The cty type system as Terraform writes it in schemas: a type is its JSON encoding
 * ("string", ["list", "number"], ["object", {...}, ["optional_attr"]], ...), kept as plain data.
 */

/** A cty type in Terraform's JSON type notation. */
export type CtyType =
  | "string"
  | "number"
  | "bool"
  | "dynamic"
  | readonly ["list", CtyType]
  | readonly ["set", CtyType]
  | readonly ["map", CtyType]
  | readonly ["object", { readonly [name: string]: CtyType }]
  | readonly ["object", { readonly [name: string]: CtyType }, readonly string[]]
  | readonly ["tuple", readonly CtyType[]];

/** The object form of CtyType. */
export type CtyObjectType = Extract<CtyType, readonly ["object", ...unknown[]]>;

/** Thrown when a value is not a valid cty type encoding. */
export class CtyTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CtyTypeError";
  }
}

const PRIMITIVES = new Set(["string", "number", "bool", "dynamic"]);

/** Checks and returns a type from its parsed JSON form; throws CtyTypeError when it is not one. */
export function parseType(json: unknown): CtyType {
  if (typeof json === "string") {
    if (PRIMITIVES.has(json)) return json as CtyType;
    throw new CtyTypeError(`unknown primitive type ${JSON.stringify(json)}`);
  }
  if (!Array.isArray(json) || json.length < 2) throw new CtyTypeError(`invalid type ${JSON.stringify(json)}`);
  const [kind, arg] = json;
  switch (kind) {
    case "list":
    case "set":
    case "map":
      if (json.length !== 2) throw new CtyTypeError(`${kind} type takes one element type`);
      return [kind, parseType(arg)] as CtyType;
    case "tuple":
      if (json.length !== 2 || !Array.isArray(arg)) throw new CtyTypeError("tuple type takes a list of element types");
      return ["tuple", arg.map(parseType)];
    case "object": {
      if (json.length > 3 || arg === null || typeof arg !== "object" || Array.isArray(arg)) {
        throw new CtyTypeError("object type takes a map of attribute types");
      }
      const attrs: Record<string, CtyType> = {};
      for (const [name, t] of Object.entries(arg as Record<string, unknown>)) attrs[name] = parseType(t);
      if (json.length === 3) {
        const optional = json[2];
        if (!Array.isArray(optional) || optional.some((n) => typeof n !== "string" || !(n in attrs))) {
          throw new CtyTypeError("object optional attributes must name attributes of the object");
        }
        return ["object", attrs, [...optional].sort(compareUtf8)];
      }
      return ["object", attrs];
    }
    default:
      throw new CtyTypeError(`unknown type kind ${JSON.stringify(kind)}`);
  }
}

/** Parses a type from its JSON text (as found in schemas and dynamic values); throws CtyTypeError. */
export function parseTypeJson(text: string | Uint8Array): CtyType {
  const s = typeof text === "string" ? text : Buffer.from(text).toString("utf8");
  let json: unknown;
  try {
    json = JSON.parse(s);
  } catch {
    throw new CtyTypeError(`type is not valid JSON: ${s}`);
  }
  return parseType(json);
}

/** Compares strings by their UTF-8 bytes, the order Go's sort.Strings gives. */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Keys of a record in Go's sorted order. */
export function sortedKeys(record: { readonly [k: string]: unknown } | ReadonlyMap<string, unknown>): string[] {
  const keys = record instanceof Map ? [...record.keys()] : Object.keys(record);
  return keys.sort(compareUtf8);
}

/**
 * Writes a JSON string the way Go's encoding/json does: HTML-sensitive characters and the
 * JavaScript line separators are escaped, so our bytes match what Terraform itself prints.
 */
export function goJsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Serializes a type to compact JSON exactly as go-cty does (sorted attribute names). */
export function typeToJson(t: CtyType): string {
  if (typeof t === "string") return `"${t}"`;
  switch (t[0]) {
    case "list":
    case "set":
    case "map":
      return `["${t[0]}",${typeToJson(t[1])}]`;
    case "tuple":
      return `["tuple",[${t[1].map(typeToJson).join(",")}]]`;
    case "object": {
      const attrs = t[1];
      const body = sortedKeys(attrs).map((k) => `${goJsonString(k)}:${typeToJson(attrs[k])}`).join(",");
      const optional = t.length === 3 && t[2].length > 0 ? `,[${[...t[2]].sort(compareUtf8).map(goJsonString).join(",")}]` : "";
      return `["object",{${body}}${optional}]`;
    }
  }
}

/** True when both types are the same type. */
export function typeEquals(a: CtyType, b: CtyType): boolean {
  return typeToJson(a) === typeToJson(b);
}

/** True for string, number and bool. */
export function isPrimitive(t: CtyType): t is "string" | "number" | "bool" {
  return t === "string" || t === "number" || t === "bool";
}

/** The kind of a type: the primitive name or the first element of the structural form. */
export function typeKind(t: CtyType): "string" | "number" | "bool" | "dynamic" | "list" | "set" | "map" | "object" | "tuple" {
  return typeof t === "string" ? t : t[0];
}

/** Attribute types of an object type; throws CtyTypeError for any other type. */
export function objectAttributes(t: CtyType): { readonly [name: string]: CtyType } {
  if (typeof t === "string" || t[0] !== "object") throw new CtyTypeError(`not an object type: ${typeToJson(t)}`);
  return t[1];
}

/** Element type of a list, set or map type; throws CtyTypeError for any other type. */
export function elementType(t: CtyType): CtyType {
  if (typeof t !== "string" && (t[0] === "list" || t[0] === "set" || t[0] === "map")) return t[1];
  throw new CtyTypeError(`not a collection type: ${typeToJson(t)}`);
}

/** A short human name for a type, for messages. */
export function friendlyTypeName(t: CtyType): string {
  if (typeof t === "string") return t;
  switch (t[0]) {
    case "list":
    case "set":
    case "map":
      return `${t[0]} of ${friendlyTypeName(t[1])}`;
    case "tuple":
      return "tuple";
    case "object":
      return "object";
  }
}

/** True when a value of type `actual` can stand where type `wanted` is expected (dynamic accepts all). */
export function typeConforms(actual: CtyType, wanted: CtyType): boolean {
  if (wanted === "dynamic") return true;
  if (typeof wanted === "string" || typeof actual === "string") return actual === wanted;
  if (actual[0] !== wanted[0]) return false;
  switch (wanted[0]) {
    case "list":
    case "set":
    case "map":
      return typeConforms(actual[1] as CtyType, wanted[1]);
    case "tuple": {
      const a = actual[1] as readonly CtyType[];
      return a.length === wanted[1].length && a.every((t, i) => typeConforms(t, wanted[1][i]));
    }
    case "object": {
      const a = actual[1] as { readonly [name: string]: CtyType };
      const w = wanted[1];
      const names = Object.keys(w);
      return names.length === Object.keys(a).length && names.every((n) => n in a && typeConforms(a[n], w[n]));
    }
  }
}
