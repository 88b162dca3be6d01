/**
 * The domain of clonefleet as plain data: no I/O lives here. Every other engine folder
 * speaks in these types; the wire (HTTP JSON) is snake_case and is converted in api/schemas.
 */

/** A directory the engine may keep disks in. The engine owns only its `clonefleet/` subfolder. */
export interface Datastore {
  id: string;
  name: string;
  /** Absolute, normalised path of the directory. */
  path: string;
  createdAt: string;
  /** The one host that can read its files; null when it is shared (the same path on every host, as NFS). */
  hostId: string | null;
}

/** What a disk layer belongs to; every file under a datastore's engine folder has one owner. */
export type LayerOwnerKind = "template" | "vm" | "pool" | "snapshot" | "replica" | "parent";

/** `ready` is in use; `drifted` means its file vanished or changed outside clonefleet. */
export type RecordState = "ready" | "drifted";

/**
 * One qcow2 file in a chain. The content ID is 128 random bits (32 hex digits) assigned when
 * the layer is created and renewed each time it is opened for writing; a child records the
 * content ID its parent had when the child was made (`parentContentId`).
 */
export interface DiskLayer {
  id: string;
  datastoreId: string;
  /** Absolute path of the file. */
  path: string;
  format: "qcow2";
  virtualSizeBytes: number;
  contentId: string;
  parentContentId: string | null;
  /** Backing file of this layer as an absolute path, or null for a base layer. */
  backingPath: string | null;
  ownerKind: LayerOwnerKind;
  ownerId: string;
  state: RecordState;
  createdAt: string;
}

/** A VM image to clone from: one base disk plus machine settings. */
export interface Template {
  id: string;
  name: string;
  datastoreId: string;
  diskLayerId: string;
  memoryMb: number;
  vcpus: number;
  /** The image it was imported from, as the user named it. */
  sourcePath: string;
  /** Kernel and initrd as the user named them; `kernel`/`initrd` are the copies beside the disk. */
  kernelSource: string | null;
  initrdSource: string | null;
  kernel: string | null;
  initrd: string | null;
  cmdline: string | null;
  state: RecordState;
  createdAt: string;
}

export type JobState = "queued" | "running" | "succeeded" | "failed" | "cancelled";

/** Progress of a job in the unit that fits its work. */
export interface JobProgress {
  unit: "bytes" | "steps";
  done: number;
  total: number;
  message?: string;
}

/** The error a failed job ended with, as users see it. */
export interface JobError {
  code: string;
  message: string;
  field?: string;
}

/**
 * Long work. `intent` is written before the job touches any file, so that recovery after a
 * crash knows exactly which files the job may have left behind.
 */
export interface Job {
  id: string;
  kind: string;
  state: JobState;
  progress: JobProgress;
  idempotencyKey: string | null;
  /** The request as the op received it (camelCase). */
  request: unknown;
  intent: unknown;
  /** The op's result (camelCase) once succeeded. */
  result: unknown;
  error: JobError | null;
  /** The id of the record the job made or changed, when there is one. */
  targetId: string | null;
  cancelRequested: boolean;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The host whose agent runs the job (the host of the VM it works on); null = `local`. */
  hostId?: string | null;
}

/** Where a replica layer on the target came from: copied by this replica, or found there already. */
export type ReplicaLayerOrigin = "copied" | "reused";

/** One layer of a replica's chain on the target datastore, top first (`position` 0 is the top). */
export interface ReplicaLayer {
  position: number;
  /** Absolute path of the layer on the target. */
  path: string;
  contentId: string;
  parentContentId: string | null;
  virtualSizeBytes: number;
  format: "qcow2";
  origin: ReplicaLayerOrigin;
  /** The DiskLayer record of a copied layer (owned by the replica); null for a reused one. */
  layerId: string | null;
  /** The source layer whose content this layer holds. */
  sourcePath: string;
}

/** What one replication run (create or repair) did, kept on the replica for users to read. */
export interface ReplicationRun {
  /** A fresh id per run, recorded in the run's intent first, so recovery can tell whether the run committed. */
  runId: string;
  kind: "create" | "repair";
  copied: { position: number; sourcePath: string; targetPath: string; contentId: string; bytes: number }[];
  reused: { position: number; targetPath: string; contentId: string }[];
  /** Layers of this replica that were still intact and stayed as they were (repair). */
  kept: { position: number; targetPath: string; contentId: string }[];
  bytesCopied: number;
  /** Source links where a child's recorded parent content ID differs from its parent's current one. */
  staleLinks: { childPath: string; recordedParentContentId: string | null; parentPath: string; parentContentId: string }[];
  /** Target layers whose content ID matched but which were not reused, and why. */
  refused: { targetPath: string; contentId: string; reason: string }[];
  /** True or false when `qemu-img compare` against the source was asked for; null otherwise. */
  verified: boolean | null;
  startedAt: string;
  finishedAt: string;
}

/**
 * A disk chain recreated on another datastore (S7): the layers it copied are its own, the
 * ones it found on the target by content ID are reused. `state` is `drifted` when a target
 * layer it relies on was removed or changed.
 */
export interface Replica {
  id: string;
  sourceKind: "disk" | "template";
  /** The top layer of the source chain (for a template, its disk at the time of the last run). */
  sourcePath: string;
  sourceTemplateId: string | null;
  targetDatastoreId: string;
  /** The DiskLayer record of the top layer on the target. */
  topLayerId: string;
  /** The top layer on the target: the disk users point at. */
  diskPath: string;
  layersCopied: number;
  layersReused: number;
  /** Bytes copied for this replica over all its runs. */
  bytesCopied: number;
  layers: ReplicaLayer[];
  lastRun: ReplicationRun;
  state: RecordState;
  createdAt: string;
  updatedAt: string;
}

/** The first host: the engine started without `--host-name`, and the host of VMs made before hosts existed. */
export const LOCAL_HOST_ID = "local";

/** `up` while its agent heartbeats and answers; `down` once it stopped (or stopped answering). */
export type HostStatus = "up" | "down";

/**
 * An engine agent that runs the QEMU processes of the VMs placed on it. Every engine process
 * sharing one inventory is a host; its id is the name it was started with (`--host-name`).
 */
export interface Host {
  id: string;
  name: string;
  /** Base URL of its HTTP API (other agents forward requests for its VMs there). */
  apiUrl: string;
  /** The engine process id and its state folder (inventory, token, VM state folders). */
  pid: number;
  stateDir: string;
  /** Root of the QEMU state folders of its VMs (`<state>/vms` for `local`, `<state>/hosts/<id>/vms` otherwise). */
  vmStateRoot: string;
  lastHeartbeatAt: string;
  status: HostStatus;
  /** Why it is down (`stopped`, `not answering`), or null while up. */
  downReason: string | null;
  startedAt: string;
  createdAt: string;
  /** SHA-256 (hex) of the secret its agent shows other agents; null for a record made before hosts had credentials. */
  tokenHash: string | null;
}

/** What a migration does when the guest has not acknowledged its notice by the deadline. */
export type MissingAckPolicy = "abort" | "proceed";

/** How a template clone gets its disk: a ready pool copy when there is one (else a copy), always a full copy, or a qcow2 overlay on the template's disk. */
export type CloneMode = "pool" | "full" | "linked";

/** How a VM's disk was actually made; `fork` for a child forked from another VM (S5), `instant-clone` for a child of an instant-clone parent (S3). */
export type ProvisionedBy = "pool" | "copy" | "linked" | "fork" | "instant-clone";

/** A VM's power state: a QEMU process runs it, or none does. */
export type VmPowerState = "running" | "stopped";

/** The accelerator a VM runs on. */
export type VmAccel = "kvm" | "tcg";

/** What a VM runs with when it has no template to read it from (a fork copies its parent's). */
export interface VmMachine {
  memoryMb: number;
  vcpus: number;
  kernel: string | null;
  initrd: string | null;
  cmdline: string | null;
}

/**
 * A VM as an inventory record with its disk. Its home folder on its datastore holds its disk
 * (and later its runtime files); `diskLayerId` is the top layer of its disk.
 */
export interface Vm {
  id: string;
  name: string;
  /** The template it was cloned from; null for VMs that came from elsewhere (forks, instant clones). */
  templateId: string | null;
  datastoreId: string;
  diskLayerId: string;
  /** Absolute path of the VM's own folder on its datastore. */
  homeDir: string;
  provisionedBy: ProvisionedBy;
  /** The clone mode it was asked for; null when not cloned from a template. */
  cloneMode: CloneMode | null;
  /** The fleet it belongs to, or null for a standalone VM. */
  fleetId: string | null;
  powerState: VmPowerState;
  state: RecordState;
  createdAt: string;
  /** The accelerator it runs on (or last ran on); null before its first start. */
  accel?: VmAccel | null;
  /** A per-VM accelerator setting (auto, kvm, tcg) that wins over the host's; null = the host's. */
  accelOverride?: "auto" | "kvm" | "tcg" | null;
  /** The QEMU process id while running. */
  pid?: number | null;
  /** Its QEMU state folder (vm.json, qmp.sock, RAM file) under the engine's state folder. */
  stateDir?: string | null;
  /** The VM it was forked from (S5), or null. */
  forkedFrom?: string | null;
  /** The parent's stun time of the fork that made this VM, in milliseconds. */
  stunMs?: number | null;
  /** True when its QEMU process died without clonefleet stopping it. */
  crashed?: boolean;
  /** Memory, vCPUs and kernel when not read from a template (forks). */
  machine?: VmMachine | null;
  /** Seconds a stop waits for the guest to power off before QEMU quits; null = the engine's default. */
  stopTimeoutSeconds?: number | null;
  /** The instant-clone parent it was cloned from (S3), or null. */
  instantCloneOf?: string | null;
  /** The host whose agent runs its QEMU (S6); `local` for records made before hosts existed. */
  hostId?: string;
  /** Seconds the guest gets to acknowledge a migration notice; 0 migrates without notice. */
  migrationNotifyTimeoutSeconds?: number;
  /** What a migration does when the acknowledgement does not come in time. */
  migrationOnMissingAck?: MissingAckPolicy;
  /** Restart it on another host when its host is lost (once that host is fenced); shared datastores only. */
  haRestart?: boolean;
}

/** Why a pool's last fill failed, as users see it. */
export interface PoolFillError {
  code: string;
  message: string;
  at: string;
}

/**
 * Full copies of one template's disk kept ready on one datastore, `size` of them, so a clone
 * can get its disk by a rename. `failures`/`retryAt` hold the refill back-off after errors.
 */
export interface Pool {
  id: string;
  templateId: string;
  datastoreId: string;
  size: number;
  lastError: PoolFillError | null;
  /** Fill failures in a row; reset by a successful fill or a change of size. */
  failures: number;
  /** No fill is tried before this time (ISO-8601), or null. */
  retryAt: string | null;
  createdAt: string;
}

/**
 * One ready copy in a pool. Its disk layer (owner kind `pool`) holds the file; the template's
 * content ID at the time of copying tells whether it still matches the template.
 */
export interface PoolCopy {
  layerId: string;
  poolId: string;
  templateContentId: string;
  createdAt: string;
}

/**
 * A declared set of `size` clones of one template spread over datastores; members are VMs
 * named `<namePrefix>-<n>`. The engine applies the declaration: grows, shrinks (newest first)
 * and recreates members whose disks vanished.
 */
export interface Fleet {
  id: string;
  namePrefix: string;
  templateId: string;
  size: number;
  datastoreIds: string[];
  cloneMode: CloneMode;
  powerState: VmPowerState;
  createdAt: string;
  updatedAt: string;
  /** The hosts its members may live on; null: every host that is up when an apply places them. */
  hostIds: string[] | null;
}

/**
 * An external snapshot of a VM's disk (S4): the layer that was the VM's top when it was taken
 * is frozen and owned by the snapshot (`layerId`); the VM continues on a new overlay above it.
 * `state` is `drifted` when a consolidation was cancelled or interrupted after it had started
 * writing into the frozen layer: the VM's chain is sound, but the point in time is no longer intact.
 */
export interface Snapshot {
  id: string;
  vmId: string;
  name: string;
  /** The frozen layer; its path is the snapshot's frozen disk. */
  layerId: string;
  state: RecordState;
  createdAt: string;
}

/** The kinds of long work; job records carry one of these. */
export const JOB_KINDS = {
  importTemplate: "template.import",
  applyFleet: "fleet.apply",
  createVm: "vm.create",
  forkVm: "vm.fork",
  createReplica: "replica.create",
  repairReplica: "replica.repair",
  createSnapshot: "snapshot.create",
  deleteSnapshot: "snapshot.delete",
  backupVm: "vm.backup",
  createParent: "parent.create",
  deleteParent: "parent.delete",
  updateParent: "parent.update",
  instantClone: "vm.instant-clone",
  migrateVm: "vm.migrate",
  startVm: "vm.start",
  stopVm: "vm.stop",
  deleteVm: "vm.delete",
  deleteTemplate: "template.delete",
  deleteFleet: "fleet.delete",
  registerDisk: "disk.register",
  rescanCatalog: "catalog.rescan",
  createDatastore: "datastore.create",
  deleteDatastore: "datastore.delete",
  createPool: "pool.create",
  resizePool: "pool.resize",
  deletePool: "pool.delete",
  deleteReplica: "replica.delete",
  updateVm: "vm.update",
  incomingMigration: "migration.incoming",
  activateMigration: "migration.activate",
  abortMigration: "migration.abort",
  completeMigration: "migration.complete",
} as const;

export const TERMINAL_JOB_STATES: readonly JobState[] = ["succeeded", "failed", "cancelled"];

/** True once a job can no longer change state. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_JOB_STATES.includes(state);
}

export * from "./rules";
export * from "./instant-clone";
export * from "./ids";
export * from "./api-token";
