import type { FastifyRequest } from "fastify";
import { invalidField } from "../../errors";

/** The caller's `Idempotency-Key` header, checked: 1–128 printable characters. */
export function idempotencyKeyOf(req: FastifyRequest): string | undefined {
  const raw = req.headers["idempotency-key"];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (!/^[\x21-\x7e]{1,128}$/.test(key)) throw invalidField("idempotency_key", "must be 1 to 128 printable characters without spaces");
  return key;
}
