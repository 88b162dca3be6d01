/**
 * The msgpack form of DynamicValue, byte for byte as go-cty writes it: the smallest integer
 * encoding, float64 for non-integers, decimal text for numbers neither holds exactly, objects
 * and maps as maps with sorted keys, lists, sets and tuples as arrays, null as nil, unknown as
 * the extension value d4 00 00 (any extension reads as unknown), and a value whose schema type
 * is `dynamic` as the pair [type JSON as bin, value].
 */
import { numberToBigInt } from "./number";
import { CtyType, CtyTypeError, parseTypeJson, sortedKeys, typeKind, typeToJson } from "./types";
import { CtyValue, compareSetElements } from "./value";

/** Thrown when bytes are not a valid msgpack encoding of a value of the expected type. */
export class CtyMsgpackError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = "CtyMsgpackError";
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class Writer {
  private buf = Buffer.alloc(256);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  byte(b: number): this {
    this.ensure(1);
    this.buf[this.len++] = b;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  u16(n: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(n, this.len);
    this.len += 2;
    return this;
  }

  u32(n: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(n, this.len);
    this.len += 4;
    return this;
  }

  u64(n: bigint): this {
    this.ensure(8);
    this.buf.writeBigUInt64BE(n, this.len);
    this.len += 8;
    return this;
  }

  f64(n: number): this {
    this.ensure(8);
    this.buf.writeDoubleBE(n, this.len);
    this.len += 8;
    return this;
  }

  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

function writeInt(w: Writer, n: bigint): void {
  if (n >= 0n) {
    if (n < 128n) w.byte(Number(n));
    else if (n < 256n) w.byte(0xcc).byte(Number(n));
    else if (n < 65536n) w.byte(0xcd).u16(Number(n));
    else if (n < 4294967296n) w.byte(0xce).u32(Number(n));
    else w.byte(0xcf).u64(n);
    return;
  }
  if (n >= -32n) w.byte(Number(n) & 0xff);
  else if (n >= -128n) w.byte(0xd0).byte(Number(n) & 0xff);
  else if (n >= -32768n) w.byte(0xd1).u16(Number(n) & 0xffff);
  else if (n >= -2147483648n) w.byte(0xd2).u32(Number(n) >>> 0);
  else w.byte(0xd3).u64(BigInt.asUintN(64, n));
}

function writeStr(w: Writer, s: string): void {
  const b = Buffer.from(s, "utf8");
  if (b.length < 32) w.byte(0xa0 | b.length);
  else if (b.length < 256) w.byte(0xd9).byte(b.length);
  else if (b.length < 65536) w.byte(0xda).u16(b.length);
  else w.byte(0xdb).u32(b.length);
  w.bytes(b);
}

function writeBin(w: Writer, b: Uint8Array): void {
  if (b.length < 256) w.byte(0xc4).byte(b.length);
  else if (b.length < 65536) w.byte(0xc5).u16(b.length);
  else w.byte(0xc6).u32(b.length);
  w.bytes(b);
}

function writeArrayHeader(w: Writer, n: number): void {
  if (n < 16) w.byte(0x90 | n);
  else if (n < 65536) w.byte(0xdc).u16(n);
  else w.byte(0xdd).u32(n);
}

function writeMapHeader(w: Writer, n: number): void {
  if (n < 16) w.byte(0x80 | n);
  else if (n < 65536) w.byte(0xde).u16(n);
  else w.byte(0xdf).u32(n);
}

function writeExt(w: Writer, code: number, data: Uint8Array): void {
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  if (fixed[data.length] !== undefined) w.byte(fixed[data.length]);
  else if (data.length < 256) w.byte(0xc7).byte(data.length);
  else if (data.length < 65536) w.byte(0xc8).u16(data.length);
  else w.byte(0xc9).u32(data.length);
  w.byte(code & 0xff);
  w.bytes(data);
}

/**
 * The concrete type of a value: what go-cty would report as its type, with no `dynamic`
 * left inside known parts (needed for the type half of a dynamic pair).
 */
export function concreteType(v: CtyValue): CtyType {
  if (v.isNull() || !v.isKnown() || typeof v.type === "string") return v.type;
  const t = v.type;
  switch (t[0]) {
    case "list":
    case "set":
    case "map": {
      const items = t[0] === "map" ? [...v.entries().values()] : v.elements();
      return items.length > 0 && typeToJson(t[1]).includes('"dynamic"') ? [t[0], concreteType(items[0])] : t;
    }
    case "tuple":
      return ["tuple", v.elements().map(concreteType)];
    case "object": {
      const attrs: Record<string, CtyType> = {};
      for (const [k, e] of v.entries()) attrs[k] = concreteType(e);
      return ["object", attrs];
    }
  }
}

function encodeInto(w: Writer, v: CtyValue, t: CtyType, path: string): void {
  if (t === "dynamic" && !(v.type === "dynamic")) {
    const ct = concreteType(v);
    writeArrayHeader(w, 2);
    writeBin(w, Buffer.from(typeToJson(ct), "utf8"));
    encodeInto(w, v, ct, path);
    return;
  }
  if (!v.isKnown()) {
    const ext = v.unknownExtension();
    if (ext) writeExt(w, ext.code, ext.data);
    else w.bytes(Buffer.from([0xd4, 0x00, 0x00]));
    return;
  }
  if (v.isNull()) {
    w.byte(0xc0);
    return;
  }
  const kind = typeKind(t);
  if (typeKind(v.type) !== kind) {
    throw new CtyMsgpackError(`value of type ${typeToJson(v.type)} where ${typeToJson(t)} is expected`, path);
  }
  switch (kind) {
    case "string":
      writeStr(w, v.asString());
      return;
    case "bool":
      w.byte(v.asBool() ? 0xc3 : 0xc2);
      return;
    case "number": {
      const n = v.asNumber();
      const asInt = numberToBigInt(n);
      if (asInt !== undefined && asInt >= INT64_MIN && asInt <= INT64_MAX) writeInt(w, asInt);
      else if (typeof n === "number") w.byte(0xcb).f64(n);
      else writeStr(w, n);
      return;
    }
    case "list":
    case "set": {
      const et = (t as readonly [string, CtyType])[1];
      let items = v.elements();
      // go-cty writes sets in its own hash order; any order decodes to the same set, so we pick a stable one.
      if (kind === "set") items = [...items].sort(compareSetElements);
      writeArrayHeader(w, items.length);
      items.forEach((e, i) => encodeInto(w, e, et, `${path}[${i}]`));
      return;
    }
    case "tuple": {
      const ets = (t as readonly ["tuple", readonly CtyType[]])[1];
      const items = v.elements();
      if (items.length !== ets.length) throw new CtyMsgpackError(`tuple needs ${ets.length} elements, has ${items.length}`, path);
      writeArrayHeader(w, items.length);
      items.forEach((e, i) => encodeInto(w, e, ets[i], `${path}[${i}]`));
      return;
    }
    case "map": {
      const et = (t as readonly ["map", CtyType])[1];
      const entries = v.entries();
      writeMapHeader(w, entries.size);
      for (const k of sortedKeys(entries)) {
        writeStr(w, k);
        encodeInto(w, entries.get(k)!, et, `${path}[${JSON.stringify(k)}]`);
      }
      return;
    }
    case "object": {
      const attrs = (t as readonly ["object", { readonly [n: string]: CtyType }])[1];
      const names = sortedKeys(attrs);
      writeMapHeader(w, names.length);
      for (const k of names) {
        writeStr(w, k);
        encodeInto(w, v.getAttr(k), attrs[k], path ? `${path}.${k}` : k);
      }
      return;
    }
    default:
      throw new CtyMsgpackError(`cannot encode type ${typeToJson(t)}`, path);
  }
}

/** Encodes a value for a slot of the given type as go-cty's msgpack.Marshal does; throws CtyMsgpackError on a type mismatch. */
export function encodeMsgpack(v: CtyValue, t: CtyType): Buffer {
  const w = new Writer();
  encodeInto(w, v, t, "");
  return w.result();
}

type Node =
  | { t: "nil" }
  | { t: "bool"; v: boolean }
  | { t: "int"; v: bigint }
  | { t: "float"; v: number }
  | { t: "str"; v: string }
  | { t: "bin"; v: Buffer }
  | { t: "arr"; v: Node[] }
  | { t: "map"; v: [Node, Node][] }
  | { t: "ext"; code: number; data: Buffer };

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new CtyMsgpackError("unexpected end of msgpack data", "");
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  private take(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  private uint(size: 1 | 2 | 4): number {
    const b = this.take(size);
    return size === 1 ? b[0] : size === 2 ? b.readUInt16BE(0) : b.readUInt32BE(0);
  }

  private str(n: number): Node {
    return { t: "str", v: this.take(n).toString("utf8") };
  }

  private arr(n: number): Node {
    const v: Node[] = [];
    for (let i = 0; i < n; i++) v.push(this.node());
    return { t: "arr", v };
  }

  private map(n: number): Node {
    const v: [Node, Node][] = [];
    for (let i = 0; i < n; i++) v.push([this.node(), this.node()]);
    return { t: "map", v };
  }

  private ext(n: number): Node {
    const code = this.take(1).readInt8(0);
    return { t: "ext", code, data: Buffer.from(this.take(n)) };
  }

  node(): Node {
    const b = this.u8();
    if (b <= 0x7f) return { t: "int", v: BigInt(b) };
    if (b >= 0xe0) return { t: "int", v: BigInt(b - 256) };
    if ((b & 0xf0) === 0x80) return this.map(b & 0x0f);
    if ((b & 0xf0) === 0x90) return this.arr(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return this.str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return { t: "nil" };
      case 0xc2:
        return { t: "bool", v: false };
      case 0xc3:
        return { t: "bool", v: true };
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return { t: "bin", v: Buffer.from(this.take(this.uint(b === 0xc4 ? 1 : b === 0xc5 ? 2 : 4))) };
      case 0xc7:
      case 0xc8:
      case 0xc9:
        return this.ext(this.uint(b === 0xc7 ? 1 : b === 0xc8 ? 2 : 4));
      case 0xca:
        return { t: "float", v: this.take(4).readFloatBE(0) };
      case 0xcb:
        return { t: "float", v: this.take(8).readDoubleBE(0) };
      case 0xcc:
        return { t: "int", v: BigInt(this.uint(1)) };
      case 0xcd:
        return { t: "int", v: BigInt(this.uint(2)) };
      case 0xce:
        return { t: "int", v: BigInt(this.uint(4)) };
      case 0xcf:
        return { t: "int", v: this.take(8).readBigUInt64BE(0) };
      case 0xd0:
        return { t: "int", v: BigInt(this.take(1).readInt8(0)) };
      case 0xd1:
        return { t: "int", v: BigInt(this.take(2).readInt16BE(0)) };
      case 0xd2:
        return { t: "int", v: BigInt(this.take(4).readInt32BE(0)) };
      case 0xd3:
        return { t: "int", v: this.take(8).readBigInt64BE(0) };
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
      case 0xda:
      case 0xdb:
        return this.str(this.uint(b === 0xd9 ? 1 : b === 0xda ? 2 : 4));
      case 0xdc:
      case 0xdd:
        return this.arr(this.uint(b === 0xdc ? 2 : 4));
      case 0xde:
      case 0xdf:
        return this.map(this.uint(b === 0xde ? 2 : 4));
      default:
        throw new CtyMsgpackError(`invalid msgpack byte 0x${b.toString(16)}`, "");
    }
  }

  atEnd(): boolean {
    return this.pos === this.buf.length;
  }
}

function fail(message: string, path: string): never {
  throw new CtyMsgpackError(message, path);
}

function fromNode(n: Node, t: CtyType, path: string): CtyValue {
  if (n.t === "ext") return CtyValue.unknownOf(t, n.code === 0 && n.data.length <= 1 ? undefined : { code: n.code, data: n.data });
  if (t === "dynamic") {
    if (n.t === "nil") return CtyValue.nullOf("dynamic");
    if (n.t !== "arr" || n.v.length !== 2) fail("a dynamic value must be a [type, value] pair", path);
    const [tn, vn] = n.v;
    if (tn.t !== "str" && tn.t !== "bin") fail("the type of a dynamic value must be JSON text", path);
    let inner: CtyType;
    try {
      inner = parseTypeJson(tn.v);
    } catch (e) {
      fail((e as Error).message, path);
    }
    return fromNode(vn, inner, path);
  }
  if (n.t === "nil") return CtyValue.nullOf(t);
  switch (typeKind(t)) {
    case "string":
      if (n.t !== "str") fail("string is required", path);
      return CtyValue.string(n.v);
    case "bool":
      if (n.t !== "bool") fail("bool is required", path);
      return CtyValue.bool(n.v);
    case "number":
      if (n.t === "int") return CtyValue.number(n.v);
      if (n.t === "float") return CtyValue.number(n.v);
      if (n.t === "str") {
        try {
          return CtyValue.number(n.v);
        } catch {
          fail("number is required", path);
        }
      }
      return fail("number is required", path);
    case "list":
    case "set": {
      if (n.t !== "arr") fail(`a ${typeKind(t)} is required`, path);
      const et = (t as readonly [string, CtyType])[1];
      const items = n.v.map((e, i) => fromNode(e, et, `${path}[${i}]`));
      return typeKind(t) === "list" ? CtyValue.list(et, items) : CtyValue.set(et, items);
    }
    case "tuple": {
      const ets = (t as readonly ["tuple", readonly CtyType[]])[1];
      if (n.t !== "arr") fail("a tuple is required", path);
      if (n.v.length !== ets.length) fail(`a tuple of length ${ets.length} is required`, path);
      return CtyValue.tuple(
        n.v.map((e, i) => fromNode(e, ets[i], `${path}[${i}]`)),
        t,
      );
    }
    case "map": {
      if (n.t !== "map") fail("a map is required", path);
      const et = (t as readonly ["map", CtyType])[1];
      const m = new Map<string, CtyValue>();
      for (const [k, e] of n.v) {
        if (k.t !== "str") fail("map keys must be strings", path);
        m.set(k.v, fromNode(e, et, `${path}[${JSON.stringify(k.v)}]`));
      }
      return CtyValue.map(et, m);
    }
    case "object": {
      if (n.t !== "map") fail("an object is required", path);
      const attrs = (t as readonly ["object", { readonly [n: string]: CtyType }])[1];
      const m = new Map<string, CtyValue>();
      for (const [k, e] of n.v) {
        if (k.t !== "str") fail("object keys must be strings", path);
        if (!Object.prototype.hasOwnProperty.call(attrs, k.v)) fail(`unsupported attribute ${JSON.stringify(k.v)}`, path);
        m.set(k.v, fromNode(e, attrs[k.v], path ? `${path}.${k.v}` : k.v));
      }
      return CtyValue.object(m, t);
    }
    default:
      return fail(`cannot decode type ${typeToJson(t)}`, path);
  }
}

/** Decodes msgpack bytes as a value of the given type, as go-cty's msgpack.Unmarshal does; throws CtyMsgpackError. */
export function decodeMsgpack(bytes: Uint8Array, t: CtyType): CtyValue {
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const n = r.node();
  if (!r.atEnd()) throw new CtyMsgpackError("trailing bytes after msgpack value", "");
  try {
    return fromNode(n, t, "");
  } catch (e) {
    if (e instanceof CtyTypeError) throw new CtyMsgpackError(e.message, "");
    throw e;
  }
}
