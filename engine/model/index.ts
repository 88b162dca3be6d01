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
}

/** The kinds of long work; job records carry one of these. */
export const JOB_KINDS = {
  importTemplate: "template.import",
} as const;

export const TERMINAL_JOB_STATES: readonly JobState[] = ["succeeded", "failed", "cancelled"];

/** True once a job can no longer change state. */
export function isTerminal(state: JobState): boolean {
  return TERMINAL_JOB_STATES.includes(state);
}

export * from "./rules";
export * from "./ids";
