import type { Migration } from "./index";

/**
 * Job leases: the runner that claimed a job and until when its claim holds. A runner renews
 * the lease while the job runs; a job whose lease expired belongs to a dead engine, and the
 * next engine of its host recovers it. Jobs without a host run on `local`.
 */
export const jobLeases: Migration = {
  version: 11,
  name: "job-leases",
  up: `
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_at TEXT;
CREATE INDEX jobs_claim ON jobs (state, created_at);
`,
};
