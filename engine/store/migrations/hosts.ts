/**
 * Migration 7: hosts (S6). Every engine process sharing the inventory is a host; VMs and jobs
 * name the host whose agent runs them. Existing VMs and jobs belong to host `local`, the first
 * engine, which is recorded here so that a VM's host always exists.
 */
export const hostsMigration = `
CREATE TABLE hosts (
  id                TEXT    NOT NULL PRIMARY KEY,
  name              TEXT    NOT NULL UNIQUE,
  api_url           TEXT    NOT NULL,
  pid               INTEGER NOT NULL,
  state_dir         TEXT    NOT NULL,
  vm_state_root     TEXT    NOT NULL,
  last_heartbeat_at TEXT    NOT NULL,
  status            TEXT    NOT NULL CHECK (status IN ('up', 'down')),
  down_reason       TEXT,
  started_at        TEXT    NOT NULL,
  created_at        TEXT    NOT NULL
);

ALTER TABLE vms ADD COLUMN host_id TEXT NOT NULL DEFAULT 'local';
ALTER TABLE vms ADD COLUMN migration_notify_timeout_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vms ADD COLUMN migration_on_missing_ack TEXT NOT NULL DEFAULT 'proceed';
CREATE INDEX vms_host_id ON vms (host_id);

ALTER TABLE jobs ADD COLUMN host_id TEXT;
CREATE INDEX jobs_host_state ON jobs (host_id, state);
`;
