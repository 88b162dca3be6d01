import { createHash, randomBytes } from "node:crypto";
import { conflict, invalidField, notFound } from "../errors";
import { nameProblem, newId, nowIso, TOKEN_SCOPES, type ApiToken, type TokenScope } from "../model";
import { StoreConstraintError, type Inventory } from "../store";

/** The prefix of issued tokens: says what a leaked secret is when it turns up in a log or a paste. */
const READ_ONLY_PREFIX = "cfro_";

/** The hex SHA-256 the inventory keeps in place of a secret. */
export function hashApiToken(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/**
 * Issues a token with `scope` named `name` (unique): records its hash and answers the record
 * and the secret, which is not kept and cannot be shown again.
 */
export async function createApiToken(store: Inventory, req: { name: string; scope: TokenScope }): Promise<{ token: ApiToken; secret: string }> {
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  if (!TOKEN_SCOPES.includes(req.scope)) throw invalidField("scope", `must be one of ${TOKEN_SCOPES.join(", ")} (got ${JSON.stringify(req.scope)})`);
  const secret = READ_ONLY_PREFIX + randomBytes(32).toString("base64url");
  const token: ApiToken = { id: newId("tok"), name: req.name, scope: req.scope, tokenHash: hashApiToken(secret), createdAt: nowIso() };
  try {
    await store.tx(async (s) => await s.tokens.insert(token));
  } catch (err) {
    if (err instanceof StoreConstraintError && err.column === "name") throw conflict(`a token named ${JSON.stringify(req.name)} exists already`, "name");
    throw err;
  }
  return { token, secret };
}

/** Revokes a token by id or name: requests carrying it answer 401 from now on. */
export async function revokeApiToken(store: Inventory, idOrName: string): Promise<ApiToken> {
  const token = (await store.tokens.list()).find((t) => t.id === idOrName || t.name === idOrName);
  if (!token) throw notFound("token", idOrName, "id");
  await store.tx(async (s) => await s.tokens.delete(token.id));
  return token;
}

/** The issued token whose secret this is, or null. */
export async function findApiToken(store: Inventory, secret: string): Promise<ApiToken | null> {
  return await store.tokens.findByHash(hashApiToken(secret));
}
