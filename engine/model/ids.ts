import { randomBytes } from "node:crypto";

/** Prefixes make ids self-describing in logs and errors (`ds-…` is a datastore). */
export type IdKind = "ds" | "tpl" | "layer" | "job" | "vm" | "pool" | "fleet" | "snap" | "rep" | "parent" | "host";

/** A new random id such as `ds-3f9a1c0b2e7d4a51` (64 random bits). */
export function newId(kind: IdKind): string {
  return `${kind}-${randomBytes(8).toString("hex")}`;
}

/** The current time as the ISO-8601 text the inventory stores. */
export function nowIso(): string {
  return new Date().toISOString();
}
