/** What a token other than the engine's own may do: `read-only` reads everything and changes nothing. */
export type TokenScope = "read-only";

export const TOKEN_SCOPES: readonly TokenScope[] = ["read-only"];

/**
 * An API token issued by the engine besides its own (admin) token. Only the SHA-256 of the
 * secret is kept: the secret is shown once, when it is created.
 */
export interface ApiToken {
  id: string;
  name: string;
  scope: TokenScope;
  /** Hex SHA-256 of the secret; the secret is 256 random bits, so a fast hash is enough. */
  tokenHash: string;
  createdAt: string;
}
