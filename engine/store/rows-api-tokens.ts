/** Rows and row mappers of the api_tokens table for the SQLite store. */
import type { ApiToken, TokenScope } from "../model";

/** An `api_tokens` row. */
export interface ApiTokenRow {
  id: string;
  name: string;
  scope: string;
  token_hash: string;
  created_at: string;
}

/** The row of a token. */
export function apiTokenRow(t: ApiToken): ApiTokenRow {
  return { id: t.id, name: t.name, scope: t.scope, token_hash: t.tokenHash, created_at: t.createdAt };
}

/** The token of a row. */
export function toApiToken(r: ApiTokenRow): ApiToken {
  return { id: r.id, name: r.name, scope: r.scope as TokenScope, tokenHash: r.token_hash, createdAt: r.created_at };
}
