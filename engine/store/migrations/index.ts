import { parentWarmCount } from "./parent-warm-count";
import { vmStopTimeout } from "./vm-stop-timeout";
import { hostsMigration } from "./hosts";
import { jobLeases } from "./job-leases";
import { apiTokens } from "./api-tokens";
import { hostsApart } from "./hosts-apart";

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
  source_path   TEXT    NOT NULL,
  kernel_source TEXT,
  initrd_source TEXT,
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

// Replicas (S7): a replica's own copies are disk_layers rows owned by it (owner_kind 'replica');
// replica_layers lists the whole target chain it relies on, reused layers included, so a read
// can tell when one of them was removed or changed.
const replicas = `
CREATE TABLE replicas (
  id                  TEXT    NOT NULL PRIMARY KEY,
  source_kind         TEXT    NOT NULL CHECK (source_kind IN ('disk', 'template')),
  source_path         TEXT    NOT NULL,
  source_template_id  TEXT,
  target_datastore_id TEXT    NOT NULL REFERENCES datastores (id),
  top_layer_id        TEXT    NOT NULL REFERENCES disk_layers (id),
  disk_path           TEXT    NOT NULL,
  layers_copied       INTEGER NOT NULL CHECK (layers_copied >= 0),
  layers_reused       INTEGER NOT NULL CHECK (layers_reused >= 0),
  bytes_copied        INTEGER NOT NULL CHECK (bytes_copied >= 0),
  last_run            TEXT    NOT NULL,
  state               TEXT    NOT NULL CHECK (state IN ('ready', 'drifted')),
  created_at          TEXT    NOT NULL,
  updated_at          TEXT    NOT NULL
);
CREATE INDEX replicas_target_datastore_id ON replicas (target_datastore_id);

CREATE TABLE replica_layers (
  replica_id         TEXT    NOT NULL REFERENCES replicas (id) ON DELETE CASCADE,
  position           INTEGER NOT NULL CHECK (position >= 0),
  path               TEXT    NOT NULL,
  content_id         TEXT    NOT NULL,
  parent_content_id  TEXT,
  virtual_size_bytes INTEGER NOT NULL CHECK (virtual_size_bytes >= 0),
  format             TEXT    NOT NULL CHECK (format IN ('qcow2')),
  origin             TEXT    NOT NULL CHECK (origin IN ('copied', 'reused')),
  layer_id           TEXT    REFERENCES disk_layers (id),
  source_path        TEXT    NOT NULL,
  PRIMARY KEY (replica_id, position)
);
CREATE INDEX replica_layers_path ON replica_layers (path);
CREATE INDEX replica_layers_layer_id ON replica_layers (layer_id);
`;

// Disk pools, fleets and VMs (S1). A pool copy's file is a disk_layers row owned by its pool
// (owner_kind 'pool'); handing it to a VM moves the file and re-owns that same row. VM columns
// that later sources (forks, instant clones) and the VM runtime will widen carry no CHECK,
// since SQLite cannot alter a CHECK without rebuilding the table.
const poolsFleetsVms = `
CREATE TABLE pools (
  id           TEXT    NOT NULL PRIMARY KEY,
  template_id  TEXT    NOT NULL REFERENCES templates (id),
  datastore_id TEXT    NOT NULL REFERENCES datastores (id),
  size         INTEGER NOT NULL CHECK (size >= 0),
  last_error   TEXT,
  failures     INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
  retry_at     TEXT,
  created_at   TEXT    NOT NULL,
  UNIQUE (template_id, datastore_id)
);
CREATE INDEX pools_datastore_id ON pools (datastore_id);

CREATE TABLE pool_copies (
  layer_id            TEXT NOT NULL PRIMARY KEY REFERENCES disk_layers (id),
  pool_id             TEXT NOT NULL REFERENCES pools (id),
  template_content_id TEXT NOT NULL,
  created_at          TEXT NOT NULL
);
CREATE INDEX pool_copies_pool_id ON pool_copies (pool_id, created_at);

CREATE TABLE fleets (
  id            TEXT    NOT NULL PRIMARY KEY,
  name_prefix   TEXT    NOT NULL UNIQUE,
  template_id   TEXT    NOT NULL REFERENCES templates (id),
  size          INTEGER NOT NULL CHECK (size >= 0),
  datastore_ids TEXT    NOT NULL,
  clone_mode    TEXT    NOT NULL,
  power_state   TEXT    NOT NULL,
  created_at    TEXT    NOT NULL,
  updated_at    TEXT    NOT NULL
);
CREATE INDEX fleets_template_id ON fleets (template_id);

CREATE TABLE vms (
  id             TEXT NOT NULL PRIMARY KEY,
  name           TEXT NOT NULL UNIQUE,
  template_id    TEXT,
  datastore_id   TEXT NOT NULL REFERENCES datastores (id),
  disk_layer_id  TEXT NOT NULL UNIQUE REFERENCES disk_layers (id),
  home_dir       TEXT NOT NULL UNIQUE,
  provisioned_by TEXT NOT NULL,
  clone_mode     TEXT,
  fleet_id       TEXT REFERENCES fleets (id),
  power_state    TEXT NOT NULL,
  state          TEXT NOT NULL CHECK (state IN ('ready', 'drifted')),
  created_at     TEXT NOT NULL
);
CREATE INDEX vms_fleet_id ON vms (fleet_id);
CREATE INDEX vms_datastore_id ON vms (datastore_id);
CREATE INDEX vms_template_id ON vms (template_id);
`;

// The VM runtime (S5/S2): what a VM runs with and where its QEMU state folder is. `machine` is
// JSON (memory, vCPUs, kernel) for VMs that have no template to read it from (forks).
const vmRuntime = `
ALTER TABLE vms ADD COLUMN accel TEXT;
ALTER TABLE vms ADD COLUMN accel_override TEXT;
ALTER TABLE vms ADD COLUMN pid INTEGER;
ALTER TABLE vms ADD COLUMN state_dir TEXT;
ALTER TABLE vms ADD COLUMN forked_from TEXT;
ALTER TABLE vms ADD COLUMN stun_ms REAL;
ALTER TABLE vms ADD COLUMN crashed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vms ADD COLUMN machine TEXT;
`;

// Snapshots (S4): the frozen layer is a disk_layers row owned by the snapshot (owner_kind
// 'snapshot'); no foreign key to it, since a consolidation re-points it inside one transaction.
const snapshots = `
CREATE TABLE snapshots (
  id         TEXT NOT NULL PRIMARY KEY,
  vm_id      TEXT NOT NULL REFERENCES vms (id),
  name       TEXT NOT NULL,
  layer_id   TEXT NOT NULL UNIQUE,
  state      TEXT NOT NULL CHECK (state IN ('ready', 'drifted')),
  created_at TEXT NOT NULL,
  UNIQUE (vm_id, name)
);
CREATE INDEX snapshots_vm_id ON snapshots (vm_id);
`;

// Instant-clone parents (S3): the frozen top layer is a disk_layers row owned by the parent
// (owner_kind 'parent'); the RAM file and device state are plain files named here. Children are
// VMs whose instant_clone_of names the parent (no foreign key, so a parent record can be
// checked and refused while children exist rather than failing on a constraint).
const instantCloneParents = `
CREATE TABLE instant_clone_parents (
  id                TEXT    NOT NULL PRIMARY KEY,
  name              TEXT    NOT NULL UNIQUE,
  source_vm_id      TEXT    NOT NULL,
  datastore_id      TEXT    NOT NULL REFERENCES datastores (id),
  disk_layer_id     TEXT    NOT NULL UNIQUE,
  ram_path          TEXT    NOT NULL UNIQUE,
  ram_location      TEXT    NOT NULL CHECK (ram_location IN ('tmpfs', 'datastore')),
  device_state_path TEXT    NOT NULL UNIQUE,
  memory_bytes      INTEGER NOT NULL CHECK (memory_bytes > 0),
  machine           TEXT    NOT NULL,
  machine_type      TEXT    NOT NULL,
  accel             TEXT    NOT NULL CHECK (accel IN ('kvm', 'tcg')),
  qemu_version      TEXT    NOT NULL,
  state             TEXT    NOT NULL CHECK (state IN ('ready', 'drifted')),
  created_at        TEXT    NOT NULL
);
CREATE INDEX instant_clone_parents_datastore_id ON instant_clone_parents (datastore_id);
ALTER TABLE vms ADD COLUMN instant_clone_of TEXT;
CREATE INDEX vms_instant_clone_of ON vms (instant_clone_of);
`;

/** Every migration the code knows, in ascending version order; append only, never edit a shipped one. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: "initial", up: initial },
  { version: 2, name: "pools-fleets-vms", up: poolsFleetsVms },
  { version: 3, name: "replicas", up: replicas },
  { version: 4, name: "vm-runtime", up: vmRuntime },
  { version: 5, name: "snapshots", up: snapshots },
  { version: 6, name: "instant-clone-parents", up: instantCloneParents },
  { version: 7, name: "hosts", up: hostsMigration },
  vmStopTimeout,
  parentWarmCount,
  apiTokens,
  jobLeases,
  hostsApart,
];

/** The schema version this code writes: the highest version in `MIGRATIONS`. */
export const LATEST_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;
