import { randomBytes } from "node:crypto";

/** Prefixes make ids self-describing in logs and errors (`ds-…` is a datastore). */
export type IdKind = "ds" | "tpl" | "layer" | "job" | "vm" | "pool" | "fleet" | "snap" | "rep" | "parent" | "host" | "tok";

/** A new random id such as `ds-3f9a1c0b2e7d4a51` (64 random bits). */
export function newId(kind: IdKind): string {
  return `${kind}-${randomBytes(8).toString("hex")}`;
}

/** The current time as the ISO-8601 text the inventory stores. */
export function nowIso(): string {
  return new Date().toISOString();
}

/**
 * Why `value` is not an id of `kind` as `newId` makes them (`<kind>-<16 lowercase hex>`), or
 * null when it is one. Ids are joined into paths, so nothing else (no `/`, no `..`) may pass.
 */
export function idProblem(kind: IdKind, value: unknown): string | null {
  if (typeof value !== "string") return "must be a string";
  if (!new RegExp(`^${kind}-[0-9a-f]{16}$`).test(value)) return `must be a ${kind} id such as ${kind}-0123456789abcdef (got ${JSON.stringify(value.slice(0, 80))})`;
  return null;
}
