/**
 * The QMP commands clonefleet uses, with their argument and return types as QEMU 7.2 defines
 * them (only the fields we read or set are spelled out). `QmpClient.execute` is typed through
 * `QmpCommands`; `executeUntyped` is the escape hatch for anything not listed here.
 */

/** QEMU's run states as `query-status` reports them. */
export type RunState =
  | "debug"
  | "inmigrate"
  | "internal-error"
  | "io-error"
  | "paused"
  | "postmigrate"
  | "prelaunch"
  | "finish-migrate"
  | "restore-vm"
  | "running"
  | "save-vm"
  | "shutdown"
  | "suspended"
  | "watchdog"
  | "guest-panicked"
  | "colo";

/** Reply of `query-status`. */
export interface StatusInfo {
  status: RunState;
  running: boolean;
  singlestep?: boolean;
}

/** States of an outgoing or incoming migration. */
export type MigrationStatus =
  | "none"
  | "setup"
  | "cancelling"
  | "cancelled"
  | "active"
  | "postcopy-active"
  | "postcopy-paused"
  | "postcopy-recover"
  | "completed"
  | "failed"
  | "colo"
  | "pre-switchover"
  | "device"
  | "wait-unplug";

/** RAM transfer figures of `query-migrate`. */
export interface MigrationRamStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  normal: number;
  "normal-bytes": number;
  "dirty-sync-count": number;
  mbps: number;
  "pages-per-second"?: number;
  "precopy-bytes"?: number;
  "downtime-bytes"?: number;
  "postcopy-bytes"?: number;
}

/** Reply of `query-migrate` (on the source or, during `-incoming`, on the destination). */
export interface MigrationInfo {
  status?: MigrationStatus;
  ram?: MigrationRamStats;
  "total-time"?: number;
  "expected-downtime"?: number;
  downtime?: number;
  "setup-time"?: number;
  "error-desc"?: string;
  "blocked-reasons"?: string[];
  /** On an incoming side listening on a socket: the addresses it listens on (the port chosen for port 0). */
  "socket-address"?: { type: string; host?: string; port?: string; path?: string }[];
}

/** Migration capabilities clonefleet sets (see `migrate-set-capabilities`). */
export type MigrationCapability =
  | "xbzrle"
  | "rdma-pin-all"
  | "auto-converge"
  | "zero-blocks"
  | "compress"
  | "events"
  | "postcopy-ram"
  | "x-colo"
  | "release-ram"
  | "block"
  | "return-path"
  | "pause-before-switchover"
  | "multifd"
  | "dirty-bitmaps"
  | "postcopy-blocktime"
  | "late-block-activate"
  | "x-ignore-shared"
  | "validate-uuid"
  | "background-snapshot"
  | "zero-copy-send"
  | "postcopy-preempt";

/** Migration parameters clonefleet sets or reads (bandwidths in bytes per second, times in ms). */
export interface MigrationParameters {
  "max-bandwidth"?: number;
  "downtime-limit"?: number;
  "multifd-channels"?: number;
  "x-checkpoint-delay"?: number;
  "announce-initial"?: number;
  "max-postcopy-bandwidth"?: number;
  "xbzrle-cache-size"?: number;
  "cpu-throttle-initial"?: number;
  "cpu-throttle-increment"?: number;
  "throttle-trigger-threshold"?: number;
  "max-cpu-throttle"?: number;
}

/** Kinds of block job. */
export type BlockJobType = "commit" | "stream" | "mirror" | "backup" | "create" | "amend" | "snapshot-load" | "snapshot-save" | "snapshot-delete";

/** States of a job in `query-jobs` and JOB_STATUS_CHANGE. */
export type JobStatus = "undefined" | "created" | "running" | "paused" | "ready" | "standby" | "waiting" | "pending" | "aborting" | "concluded" | "null";

/** One entry of `query-block-jobs`. */
export interface BlockJobInfo {
  type: BlockJobType;
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  ready: boolean;
  status: JobStatus;
  "auto-finalize": boolean;
  "auto-dismiss": boolean;
  error?: string;
}

/** One entry of `query-jobs`. */
export interface JobInfo {
  id: string;
  type: BlockJobType;
  status: JobStatus;
  "current-progress": number;
  "total-progress": number;
  error?: string;
}

/** Sync modes of backup and mirror jobs (`top` copies only the top layer's allocated data). */
export type BlockSyncMode = "top" | "full" | "none" | "incremental" | "bitmap";

/** What a block job does on an I/O error. */
export type BlockdevOnError = "report" | "ignore" | "enospc" | "stop" | "auto";

/** Arguments shared by jobs that can be finalized and dismissed by hand. */
export interface JobCommonArgs {
  "job-id"?: string;
  "auto-finalize"?: boolean;
  "auto-dismiss"?: boolean;
  speed?: number;
}

/** A block node's image description in `query-block` / `query-named-block-nodes`. */
export interface ImageInfo {
  filename: string;
  format: string;
  "virtual-size": number;
  "actual-size"?: number;
  "dirty-flag"?: boolean;
  "backing-filename"?: string;
  "full-backing-filename"?: string;
  "backing-filename-format"?: string;
  "backing-image"?: ImageInfo;
}

/** One node of `query-named-block-nodes`. */
export interface BlockDeviceInfo {
  "node-name": string;
  file: string;
  drv: string;
  ro: boolean;
  encrypted: boolean;
  backing_file?: string;
  backing_file_depth: number;
  image: ImageInfo;
  "write_threshold"?: number;
}

/** `x-debug-query-block-graph`: every block node and backend, and the named edges between them. */
export interface BlockGraph {
  nodes: { id: number; type: "block-backend" | "block-job" | "block-driver"; name: string }[];
  edges: { parent: number; child: number; name: string }[];
}

/** One device of `query-block`. */
export interface BlockInfo {
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
}

/**
 * `blockdev-add` options. Only the common keys are typed; drivers take further keys
 * (`file`, `filename`, `backing`, `cache`…), passed as they are.
 */
export interface BlockdevAddArgs {
  driver: string;
  "node-name"?: string;
  "read-only"?: boolean;
  "auto-read-only"?: boolean;
  discard?: "ignore" | "unmap";
  "detect-zeroes"?: "off" | "on" | "unmap";
  [key: string]: unknown;
}

/** One chardev of `query-chardev`. */
export interface ChardevInfo {
  label: string;
  filename: string;
  "frontend-open": boolean;
}

/** Empty arguments. */
export type NoArgs = Record<string, never> | undefined;

/** Every typed command: its arguments (`args`) and its reply (`ret`). */
export interface QmpCommands {
  qmp_capabilities: { args: { enable?: string[] } | undefined; ret: Record<string, never> };
  "query-version": { args: NoArgs; ret: QmpVersionReply };
  "query-commands": { args: NoArgs; ret: { name: string }[] };
  "query-status": { args: NoArgs; ret: StatusInfo };
  "query-name": { args: NoArgs; ret: { name?: string } };
  "query-kvm": { args: NoArgs; ret: { enabled: boolean; present: boolean } };
  "query-chardev": { args: NoArgs; ret: ChardevInfo[] };
  stop: { args: NoArgs; ret: Record<string, never> };
  cont: { args: NoArgs; ret: Record<string, never> };
  quit: { args: NoArgs; ret: Record<string, never> };
  system_powerdown: { args: NoArgs; ret: Record<string, never> };
  system_reset: { args: NoArgs; ret: Record<string, never> };
  migrate: { args: { uri: string; detach?: boolean; resume?: boolean }; ret: Record<string, never> };
  "migrate-incoming": { args: { uri: string }; ret: Record<string, never> };
  migrate_cancel: { args: NoArgs; ret: Record<string, never> };
  "migrate-continue": { args: { state: MigrationStatus }; ret: Record<string, never> };
  "migrate-set-capabilities": { args: { capabilities: { capability: MigrationCapability; state: boolean }[] }; ret: Record<string, never> };
  "query-migrate-capabilities": { args: NoArgs; ret: { capability: MigrationCapability; state: boolean }[] };
  "migrate-set-parameters": { args: MigrationParameters; ret: Record<string, never> };
  "query-migrate-parameters": { args: NoArgs; ret: MigrationParameters };
  "query-migrate": { args: NoArgs; ret: MigrationInfo };
  "blockdev-snapshot-sync": {
    args: {
      device?: string;
      "node-name"?: string;
      "snapshot-file": string;
      "snapshot-node-name"?: string;
      format?: string;
      mode?: "existing" | "absolute-paths";
    };
    ret: Record<string, never>;
  };
  "blockdev-snapshot": { args: { node: string; overlay: string }; ret: Record<string, never> };
  "block-commit": {
    args: JobCommonArgs & {
      device: string;
      "base-node"?: string;
      base?: string;
      "top-node"?: string;
      top?: string;
      "backing-file"?: string;
      "on-error"?: BlockdevOnError;
      "filter-node-name"?: string;
    };
    ret: Record<string, never>;
  };
  "block-stream": {
    args: JobCommonArgs & { device: string; "base-node"?: string; "bottom"?: string; "backing-file"?: string; "on-error"?: BlockdevOnError };
    ret: Record<string, never>;
  };
  "blockdev-backup": {
    args: JobCommonArgs & {
      device: string;
      target: string;
      sync: BlockSyncMode;
      compress?: boolean;
      "on-source-error"?: BlockdevOnError;
      "on-target-error"?: BlockdevOnError;
      "filter-node-name"?: string;
    };
    ret: Record<string, never>;
  };
  "drive-backup": {
    args: JobCommonArgs & {
      device: string;
      target: string;
      format?: string;
      sync: BlockSyncMode;
      mode?: "existing" | "absolute-paths";
    };
    ret: Record<string, never>;
  };
  "blockdev-mirror": {
    args: JobCommonArgs & {
      device: string;
      target: string;
      sync: BlockSyncMode;
      replaces?: string;
      granularity?: number;
      "buf-size"?: number;
      "on-source-error"?: BlockdevOnError;
      "on-target-error"?: BlockdevOnError;
      "filter-node-name"?: string;
      "copy-mode"?: "background" | "write-blocking";
    };
    ret: Record<string, never>;
  };
  "job-complete": { args: { id: string }; ret: Record<string, never> };
  "job-cancel": { args: { id: string }; ret: Record<string, never> };
  "job-dismiss": { args: { id: string }; ret: Record<string, never> };
  "job-finalize": { args: { id: string }; ret: Record<string, never> };
  "block-job-complete": { args: { device: string }; ret: Record<string, never> };
  "block-job-cancel": { args: { device: string; force?: boolean }; ret: Record<string, never> };
  "block-job-set-speed": { args: { device: string; speed: number }; ret: Record<string, never> };
  "query-block-jobs": { args: NoArgs; ret: BlockJobInfo[] };
  "query-jobs": { args: NoArgs; ret: JobInfo[] };
  "blockdev-add": { args: BlockdevAddArgs; ret: Record<string, never> };
  "blockdev-del": { args: { "node-name": string }; ret: Record<string, never> };
  "query-block": { args: NoArgs; ret: BlockInfo[] };
  "query-named-block-nodes": { args: { flat?: boolean } | undefined; ret: BlockDeviceInfo[] };
  "x-debug-query-block-graph": { args: NoArgs; ret: BlockGraph };
  "human-monitor-command": { args: { "command-line": string; "cpu-index"?: number }; ret: string };
  pmemsave: { args: { val: number; size: number; filename: string }; ret: Record<string, never> };
  memsave: { args: { val: number; size: number; filename: string; "cpu-index"?: number }; ret: Record<string, never> };
  "qom-get": { args: { path: string; property: string }; ret: unknown };
  "qom-set": { args: { path: string; property: string; value: unknown }; ret: Record<string, never> };
  device_add: { args: { driver: string; id?: string; bus?: string; [key: string]: unknown }; ret: Record<string, never> };
  device_del: { args: { id: string }; ret: Record<string, never> };
}

/** Reply of `query-version`. */
export interface QmpVersionReply {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

/** Name of a typed command. */
export type QmpCommandName = keyof QmpCommands;

/** Arguments of command K. */
export type QmpArgs<K extends QmpCommandName> = QmpCommands[K]["args"];

/** Reply of command K. */
export type QmpReturnOf<K extends QmpCommandName> = QmpCommands[K]["ret"];
