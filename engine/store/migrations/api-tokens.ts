import type { Migration } from "./index";

/**
 * Tokens the engine issues besides its own admin token (read-only scopes for consoles and
 * metric scrapers). Only the SHA-256 of each secret is stored.
 */
export const apiTokens: Migration = {
  version: 10,
  name: "api-tokens",
  up: `
CREATE TABLE api_tokens (
  id         TEXT NOT NULL PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  scope      TEXT NOT NULL CHECK (scope IN ('read-only')),
  token_hash TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);`,
};
