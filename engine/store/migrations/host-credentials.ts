import type { Migration } from "./index";

/**
 * Host credentials: each host's agent keeps its own secret in its own state folder and records
 * only its SHA-256 here, so hosts on separate machines, sharing nothing but the network and the
 * inventory, can tell a fellow agent's call from anyone else's.
 */
export const hostCredentials: Migration = {
  version: 12,
  name: "host-credentials",
  up: `
ALTER TABLE hosts ADD COLUMN token_hash TEXT;
`,
};
