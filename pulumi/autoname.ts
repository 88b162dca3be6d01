/**
 * Pulumi's autonaming for clonefleet resources: a resource given no `name` is named after its
 * logical name plus a random suffix (`web` → `web-1a2b3c4`), as other Pulumi providers do, in
 * a form the engine's name rules accept. Check makes the name once and keeps it across updates.
 */
import { randomBytes } from "node:crypto";
import { NAME_MAX_LENGTH } from "../engine/model/rules";

/** Characters of the random suffix. */
export const AUTONAME_SUFFIX_LENGTH = 7;
const ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz";

/**
 * `logical` made a valid engine name stem: characters the engine refuses become '-', runs of
 * dots shrink to one, it starts with a letter or digit, and it leaves room for the suffix.
 */
export function autonameStem(logical: string): string {
  let stem = logical
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/^[^A-Za-z0-9]+/, "");
  stem = stem.slice(0, NAME_MAX_LENGTH - AUTONAME_SUFFIX_LENGTH - 1).replace(/[.]+$/, "");
  return stem.length > 0 ? stem : "cf";
}

/** A fresh name for a resource whose logical name is `logical`: its stem, '-', and a random suffix. */
export function autoname(logical: string, random: (n: number) => Buffer = randomBytes): string {
  const bytes = random(AUTONAME_SUFFIX_LENGTH);
  let suffix = "";
  for (let i = 0; i < AUTONAME_SUFFIX_LENGTH; i++) suffix += ALPHABET[bytes[i] % ALPHABET.length];
  return `${autonameStem(logical)}-${suffix}`;
}

/**
 * The name check gives a resource: the one the user set, else the one it was given before (when
 * that was generated from the same logical name), else a fresh one; undefined when there is no
 * logical name to make one from (the resource then fails as missing its name).
 */
export function resolveName(olds: Record<string, unknown>, news: Record<string, unknown>, make: (logical: string) => string = autoname): unknown {
  if (news.name !== undefined && news.name !== null) return news.name;
  const logical = news[AUTONAME_INPUT];
  if (typeof logical !== "string") return undefined;
  if (typeof olds.name === "string" && olds[AUTONAME_INPUT] === logical) return olds.name;
  return make(logical);
}

/** The hidden input carrying the logical name of a resource created without a `name`. */
export const AUTONAME_INPUT = "autonameFrom";

/** The hidden input a resource constructor adds: its logical name when the user gave no `name` (and it is not a lookup by id). */
export function autonameInput(logical: string, args: { name?: unknown }, opts?: { id?: unknown }): Record<string, string | undefined> {
  return { [AUTONAME_INPUT]: args.name === undefined && !opts?.id ? logical : undefined };
}
