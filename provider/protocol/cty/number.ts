/**
 * cty numbers are arbitrary-precision decimals. We hold one as a JS number when that double is
 * exactly the value, and otherwise as its plain decimal text; two numbers are equal when their
 * shortest decimal texts are equal, which is how go-cty compares them.
 */

/** A cty number: a double that is exactly the value, or the exact plain decimal text. */
export type CtyNumber = number | string;

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Thrown for text that is not a decimal number. */
export class CtyNumberError extends Error {
  constructor(text: string) {
    super(`${JSON.stringify(text)} is not a number`);
    this.name = "CtyNumberError";
  }
}

/** Rewrites decimal text (optionally with an exponent) as plain canonical decimal text; throws CtyNumberError. */
export function canonicalDecimal(text: string): string {
  const m = DECIMAL.exec(text.trim());
  if (!m || (m[2] === "" && (m[3] === undefined || m[3] === ""))) throw new CtyNumberError(text);
  const sign = m[1] === "-" ? "-" : "";
  const intDigits = m[2];
  const fracDigits = m[3] ?? "";
  const exp = m[4] ? parseInt(m[4], 10) : 0;
  let digits = (intDigits + fracDigits).replace(/^0+/, "");
  // The value is digits * 10^(exp - fracDigits.length).
  let scale = exp - fracDigits.length;
  if (digits === "") return "0";
  const trailing = /0*$/.exec(digits)![0].length;
  if (trailing > 0) {
    digits = digits.slice(0, digits.length - trailing);
    scale += trailing;
  }
  let plain: string;
  if (scale >= 0) plain = digits + "0".repeat(scale);
  else if (-scale >= digits.length) plain = "0." + "0".repeat(-scale - digits.length) + digits;
  else plain = digits.slice(0, digits.length + scale) + "." + digits.slice(digits.length + scale);
  return sign + plain;
}

/** The exact decimal value of a finite double, in plain notation. */
export function exactDecimalOfDouble(d: number): string {
  if (Number.isInteger(d)) return Object.is(d, -0) ? "0" : BigInt(d).toString();
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, d);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n ? "-" : "";
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  let exp2: number;
  if (biased === 0) {
    exp2 = -1074;
  } else {
    mantissa |= 1n << 52n;
    exp2 = biased - 1075;
  }
  // A non-integer double has a negative binary exponent: value = mantissa * 5^k / 10^k.
  const k = -exp2;
  const digits = (mantissa * 5n ** BigInt(k)).toString().padStart(k + 1, "0");
  const intPart = digits.slice(0, digits.length - k);
  const frac = digits.slice(digits.length - k).replace(/0+$/, "");
  return sign + intPart + (frac ? "." + frac : "");
}

/** The shortest decimal text of a number, in plain notation: the text go-cty compares by. */
export function numberText(n: CtyNumber): string {
  if (typeof n === "string") return n;
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  if (Object.is(n, -0)) return "0";
  return canonicalDecimal(String(n));
}

/** Makes a CtyNumber from a double, bigint or decimal text; throws CtyNumberError for NaN or bad text. */
export function toCtyNumber(v: number | bigint | string): CtyNumber {
  if (typeof v === "number") {
    if (Number.isNaN(v)) throw new CtyNumberError("NaN");
    return Object.is(v, -0) ? 0 : v;
  }
  if (typeof v === "bigint") {
    const d = Number(v);
    return BigInt(d) === v ? d : v.toString();
  }
  const trimmed = v.trim();
  if (trimmed === "+Inf" || trimmed === "Inf" || trimmed === "Infinity") return Infinity;
  if (trimmed === "-Inf" || trimmed === "-Infinity") return -Infinity;
  const text = canonicalDecimal(trimmed);
  const d = Number(text);
  if (Number.isFinite(d) && exactDecimalOfDouble(d) === text) return d;
  return text;
}

/** True when two numbers are equal as go-cty sees them. */
export function numberEquals(a: CtyNumber, b: CtyNumber): boolean {
  return numberText(a) === numberText(b);
}

/** The number as a double (may round when the value is held as text). */
export function numberToDouble(n: CtyNumber): number {
  return typeof n === "number" ? n : Number(n);
}

/** The number as a bigint when it is an integer, otherwise undefined. */
export function numberToBigInt(n: CtyNumber): bigint | undefined {
  if (typeof n === "number") return Number.isInteger(n) ? BigInt(n) : undefined;
  return /^-?\d+$/.test(n) ? BigInt(n) : undefined;
}
