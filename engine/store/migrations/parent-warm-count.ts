import type { Migration } from "./index";

/**
 * How many children of an instant-clone parent each host keeps pre-started (QEMU up, paused
 * before loading the state) so a clone request only loads the device state and resumes.
 */
export const parentWarmCount: Migration = {
  version: 9,
  name: "parent-warm-count",
  up: `ALTER TABLE instant_clone_parents ADD COLUMN warm_count INTEGER NOT NULL DEFAULT 0 CHECK (warm_count >= 0);`,
};
