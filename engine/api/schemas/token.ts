import { Type, type Static } from "@sinclair/typebox";
import type { ApiToken } from "../../model";

export const CreateTokenBody = Type.Object(
  {
    name: Type.String({ description: "Unique name: letters, digits, '.', '_', '-'; at most 63 characters." }),
    scope: Type.String({ enum: ["read-only"], description: "read-only: may GET everything (console, /metrics, /events) and change nothing." }),
  },
  { additionalProperties: false },
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;

/** An issued token on the wire; never its secret, except once in the answer to its creation. */
export const TokenWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    scope: Type.String({ enum: ["read-only"] }),
    created_at: Type.String(),
  },
  { $id: "Token" },
);
export type TokenWire = Static<typeof TokenWire>;

export const CreatedTokenWire = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    scope: Type.String({ enum: ["read-only"] }),
    created_at: Type.String(),
    token: Type.String({ description: "The secret; shown only in this answer (the engine keeps its hash)." }),
  },
  { $id: "CreatedToken" },
);
export type CreatedTokenWire = Static<typeof CreatedTokenWire>;

/** The wire form of a token (no secret). */
export function tokenToWire(t: ApiToken): TokenWire {
  return { id: t.id, name: t.name, scope: t.scope, created_at: t.createdAt };
}
