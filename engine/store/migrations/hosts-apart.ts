import type { Migration } from "./index";

/**
 * Hosts apart (separate machines sharing the network and the inventory):
 * - each host's agent keeps its own secret in its own state folder and records only its
 *   SHA-256 here, so agents can tell a fellow agent's call from anyone else's;
 * - a datastore is shared (the same path on every host, host_id NULL, as every datastore was
 *   before) or belongs to one host, which alone can read its files;
 * - a fleet may name the hosts its members live on (JSON list; NULL: every host that is up);
 * - a VM may ask to be restarted on another host when its host is lost (ha_restart).
 */
export const hostsApart: Migration = {
  version: 12,
  name: "hosts-apart",
  up: `
ALTER TABLE hosts ADD COLUMN token_hash TEXT;
ALTER TABLE datastores ADD COLUMN host_id TEXT;
ALTER TABLE fleets ADD COLUMN host_ids TEXT;
ALTER TABLE vms ADD COLUMN ha_restart INTEGER NOT NULL DEFAULT 0;
`,
};
