/** One step of the inventory schema; `up` is SQL run inside one transaction with foreign keys on. */
export interface Migration {
  version: number;
  name: string;
  up: string;
}

const initial = `
CREATE TABLE datastores (
  id         TEXT NOT NULL PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  path       TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);

CREATE TABLE disk_layers (
  id                 TEXT    NOT NULL PRIMARY KEY,
  datastore_id       TEXT    NOT NULL REFERENCES datastores (id),
  path               TEXT    NOT NULL UNIQUE,
  format             TEXT    NOT NULL CHECK (format IN ('qcow2')),
  virtual_size_bytes INTEGER NOT NULL CHECK (virtual_size_bytes >= 0),
  content_id         TEXT    NOT NULL,
  parent_content_id  TEXT,
  backing_path       TEXT,
  owner_kind         TEXT    NOT NULL CHECK (owner_kind IN ('template', 'vm', 'pool', 'snapshot', 'replica', 'parent')),
  owner_id           TEXT    NOT NULL,
  state              TEXT    NOT NULL CHECK (state IN ('ready', 'drifted')),
  created_at         TEXT    NOT NULL
);
CREATE INDEX disk_layers_content_id ON disk_layers (content_id);
CREATE INDEX disk_layers_datastore_id ON disk_layers (datastore_id);
CREATE INDEX disk_layers_owner ON disk_layers (owner_kind, owner_id);

CREATE TABLE templates (
  id            TEXT    NOT NULL PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE,
  datastore_id  TEXT    NOT NULL REFERENCES datastores (id),
  disk_layer_id TEXT    NOT NULL REFERENCES disk_layers (id),
  memory_mb     INTEGER NOT NULL CHECK (memory_mb > 0),
  vcpus         INTEGER NOT NULL CHECK (vcpus > 0),
  kernel        TEXT,
  initrd        TEXT,
  cmdline       TEXT,
  state         TEXT    NOT NULL CHECK (state IN ('ready', 'drifted')),
  created_at    TEXT    NOT NULL
);
CREATE INDEX templates_datastore_id ON templates (datastore_id);
CREATE INDEX templates_disk_layer_id ON templates (disk_layer_id);

CREATE TABLE jobs (
  id               TEXT    NOT NULL PRIMARY KEY,
  kind             TEXT    NOT NULL,
  state            TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  progress         TEXT    NOT NULL,
  idempotency_key  TEXT    UNIQUE,
  request          TEXT,
  intent           TEXT,
  result           TEXT,
  error            TEXT,
  target_id        TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
  created_at       TEXT    NOT NULL,
  started_at       TEXT,
  finished_at      TEXT
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_created_at ON jobs (created_at);

CREATE TABLE settings (
  key   TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/** Every migration the code knows, in ascending version order; append only, never edit a shipped one. */
export const MIGRATIONS: readonly Migration[] = [{ version: 1, name: "initial", up: initial }];

/** The schema version this code writes: the highest version in `MIGRATIONS`. */
export const LATEST_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;
