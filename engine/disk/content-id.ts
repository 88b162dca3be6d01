import { randomBytes } from "node:crypto";

const CONTENT_ID = /^[0-9a-f]{32}$/;

/** Returns a fresh content ID: 128 random bits as 32 lowercase hex digits; never throws. */
export function newContentId(): string {
  return randomBytes(16).toString("hex");
}

/** True when `s` is a well-formed content ID (exactly 32 lowercase hex digits). */
export function isContentId(s: unknown): s is string {
  return typeof s === "string" && CONTENT_ID.test(s);
}
