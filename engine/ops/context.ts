import type { Logger } from "pino";
import type { JobProgress } from "../model";
import type { Inventory } from "../store";
import type { WarmChildSource } from "./instant-clone-child";

/**
 * What an operation may touch. Jobs give each run its own context: the signal aborts the
 * work on cancellation, `recordIntent` persists which files the op is about to create before
 * it creates them (so recovery after a crash can finish or undo), `progress` reports.
 */
/** Engine-wide settings ops honour. */
export interface EngineSettings {
  /** Cap on the bandwidth of background disk copies (imports, pool fills, backups); unlimited when unset. */
  copyRateLimitBytesPerSec?: number;
  /** The engine's state folder (inventory, token, VM state); no datastore may lie in or around it. */
  stateDir?: string;
  /** Folders, resolved, where backups may be written besides datastores' own folders (`--backup-dir`). */
  backupDirs?: string[];
  /** Folder holding one QEMU state folder per VM (`<stateDir>/vms`); VMs cannot start without it. */
  vmStateRoot?: string;
  /** The host's accelerator setting (auto, kvm, tcg); a VM's own setting wins. Default auto. */
  accel?: "auto" | "kvm" | "tcg";
  /** Where new instant-clone parents keep their RAM file unless a request says (default tmpfs). */
  parentRamLocation?: "tmpfs" | "datastore";
  /** This engine's own folder on a tmpfs for parents' RAM files (e.g. `/dev/shm/clonefleet/<engine>`). */
  parentTmpfsDir?: string;
  /** How many children of one instant-clone request start at the same time (default 8). */
  instantCloneConcurrency?: number;
  /** The host this engine is (S6); `local` when unset. Jobs, VMs and recovery are scoped to it. */
  hostId?: string;
  /** The hosts' own credential, for requests to other hosts' `/internal/` routes (agents on one state folder share it). */
  hostToken?: string | null;
  /** Time without a heartbeat after which another host counts as down. */
  hostDownAfterMs?: number;
}

/**
 * Work an op needs from another host's agent (a member of a fleet on another host started or
 * stopped): a job, bound to that host by its kind's handler, which the op waits for. Ops see
 * this interface; the job runner provides it.
 */
export interface HostWork {
  /** Submits a job of `kind` and waits until it ends; answers its result, or throws its error. */
  runJob(kind: string, request: unknown): Promise<unknown>;
}

export interface OpContext {
  store: Inventory;
  settings: EngineSettings;
  /** Jobs for other hosts' agents; absent outside jobs. */
  hostWork?: HostWork;
  /** Pre-started instant-clone children this host keeps, when it keeps any. */
  warm?: WarmChildSource;
  log: Logger;
  signal: AbortSignal;
  /** Persists the files and ids the op is about to create; call before touching any file. */
  recordIntent(intent: unknown): Promise<void>;
  progress(p: Partial<JobProgress>): void;
}

/** A context for quick synchronous-style ops that run outside a job (no progress, no intent). */
export function directContext(store: Inventory, log: Logger, signal?: AbortSignal, settings: EngineSettings = {}): OpContext {
  return {
    store,
    settings,
    log,
    signal: signal ?? new AbortController().signal,
    recordIntent: async () => undefined,
    progress: () => undefined,
  };
}

/** Throws the abort reason when the op's job has been cancelled. */
export function throwIfCancelled(ctx: OpContext): void {
  if (ctx.signal.aborted) throw ctx.signal.reason;
}
