/**
 * VM state (devices and RAM) to and from files, and live migration, all through QEMU's
 * migration stream. QEMU 7.2 has no `file:` migration URI (it came in 8.2), so files go
 * through `exec:`: QEMU pipes the stream into `/bin/sh -c` (`cat > file`), and reads it back
 * the same way on a process started with `-incoming defer`.
 *
 * With the `x-ignore-shared` capability, RAM in a shared memory-backend-file is left out of
 * the stream (it is already in the file): that is VM templating (S3), and what keeps a fork's
 * stun short (S5). Both sides must set it.
 */
import { randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { checkTimeout, pollUntil, remainingMs } from "./deadline";
import { MigrationError } from "./errors";
import type { QmpClient } from "./qmp/client";
import type { MigrationCapability, MigrationInfo, MigrationParameters, MigrationStatus, RunState } from "./qmp/commands";
import { QmpAbortedError, QmpTimeoutError } from "./qmp/errors";
import type { QmpEventListener, QmpEvent } from "./qmp/events";

/**
 * Bandwidth limit set before a save: QEMU's default (128 MiB/s) throttles even a stopped VM's
 * save to a file — 1.9 s for 256 MiB against ~0.3 s unthrottled (MACHINE-NOTES.md).
 */
export const SAVE_MAX_BANDWIDTH_BYTES_PER_SEC = 64 * 1024 * 1024 * 1024;

/** Default deadline of a save or load. */
export const DEFAULT_STATE_TIMEOUT_MS = 120000;

const TERMINAL: ReadonlySet<MigrationStatus> = new Set(["completed", "failed", "cancelled"]);

/** Quotes a string for /bin/sh. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Sets migration capabilities (only those given); they stay set on that QEMU process. Throws QmpError. */
export async function setMigrationCapabilities(
  qmp: QmpClient,
  capabilities: Partial<Record<MigrationCapability, boolean>>,
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  const list = Object.entries(capabilities).map(([capability, state]) => ({ capability: capability as MigrationCapability, state: state === true }));
  if (list.length > 0) await qmp.execute("migrate-set-capabilities", { capabilities: list }, opts);
}

/** Sets migration parameters; they stay set on that QEMU process. Throws QmpError. */
export async function setMigrationParameters(qmp: QmpClient, params: MigrationParameters, opts: { timeoutMs?: number } = {}): Promise<void> {
  await qmp.execute("migrate-set-parameters", params, opts);
}

/**
 * Waits until the migration on this QEMU (outgoing, or incoming on a `-incoming` process)
 * ends and returns `query-migrate` then — pass a MIGRATION listener opened before the command
 * that started it, or null to rely on polling alone; throws MigrationError for
 * `failed`/`cancelled`, QmpTimeoutError at the deadline, QmpError when the monitor goes away.
 */
export async function waitForMigration(
  qmp: QmpClient,
  listener: QmpEventListener<QmpEvent<"MIGRATION">> | null,
  opts: { timeoutMs: number; signal?: AbortSignal; step?: MigrationError["step"]; pollMs?: number },
): Promise<MigrationInfo> {
  const timeoutMs = checkTimeout(opts.timeoutMs, "waitForMigration");
  const deadline = Date.now() + timeoutMs;
  const pollMs = opts.pollMs ?? 200;
  const step = opts.step ?? "migrate";
  for (;;) {
    let status: MigrationStatus | undefined;
    if (listener) {
      try {
        status = (await listener.next({ timeoutMs: Math.min(pollMs, remainingMs(deadline)), signal: opts.signal })).data.status;
      } catch (err) {
        if (!(err instanceof QmpTimeoutError)) throw err;
      }
    }
    if (status === undefined || TERMINAL.has(status)) {
      const info = await qmp.execute("query-migrate", undefined, { timeoutMs: Math.max(1000, remainingMs(deadline)) });
      status = info.status ?? status;
      if (status === "completed") return info;
      if (status === "failed" || status === "cancelled") throw new MigrationError(step, status, info["error-desc"] ?? "");
    }
    if (remainingMs(deadline) <= 0) throw new QmpTimeoutError(`${step}: migration to end`, timeoutMs);
    if (!listener) await new Promise((r) => setTimeout(r, Math.min(pollMs, remainingMs(deadline))));
  }
}

/** Options of `saveState`. */
export interface SaveStateOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Leave shared file-backed RAM out of the stream (`x-ignore-shared`); default false. */
  ignoreShared?: boolean;
  /** Bandwidth limit for this save (default SAVE_MAX_BANDWIDTH_BYTES_PER_SEC). */
  maxBandwidthBytesPerSec?: number;
}

/** What a save produced. */
export interface SaveStateResult {
  path: string;
  sizeBytes: number;
  durationMs: number;
  /** The guest's downtime as QEMU reports it (the whole save, for a stopped VM). */
  downtimeMs: number | null;
  /** RAM bytes in the stream (near zero for shared RAM with `ignoreShared`). */
  ramBytes: number;
}

/**
 * Saves the VM's device state and RAM (with `ignoreShared`, all but shared file-backed RAM)
 * into `file`, which appears only when complete (a crash leaves at most a hidden
 * `.NAME.partial-*` beside it); stop the VM first for a snapshot of a chosen instant — a
 * running VM is saved live — and `cont` it after (QEMU leaves it `postmigrate`, images
 * released); throws MigrationError (failed, cancelled, or timed out and then cancelled) or QmpError.
 */
export async function saveState(qmp: QmpClient, file: string, opts: SaveStateOptions = {}): Promise<SaveStateResult> {
  if (!path.isAbsolute(file)) throw new RangeError(`saveState: ${file} is not an absolute path`);
  const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_STATE_TIMEOUT_MS, "saveState");
  const started = Date.now();
  const deadline = started + timeoutMs;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.partial-${randomBytes(4).toString("hex")}`);
  // Capabilities stay set on a QEMU process: clear the switchover pause a fork may have left.
  await setMigrationCapabilities(qmp, { events: true, "x-ignore-shared": opts.ignoreShared === true, "pause-before-switchover": false });
  await setMigrationParameters(qmp, { "max-bandwidth": opts.maxBandwidthBytesPerSec ?? SAVE_MAX_BANDWIDTH_BYTES_PER_SEC });
  const listener = qmp.listen("MIGRATION");
  try {
    // The rename runs only after cat wrote everything, so the final name never shows a
    // partial state, also when the engine or QEMU dies midway.
    await qmp.execute("migrate", { uri: `exec:cat > ${shellQuote(tmp)} && mv -f ${shellQuote(tmp)} ${shellQuote(file)}` });
    let info: MigrationInfo;
    try {
      info = await waitForMigration(qmp, listener, { timeoutMs: remainingMs(deadline), signal: opts.signal, step: "save" });
    } catch (err) {
      if (err instanceof QmpTimeoutError || err instanceof QmpAbortedError) {
        await qmp.execute("migrate_cancel").catch(() => undefined);
        throw new MigrationError("save", err instanceof QmpTimeoutError ? "timed out" : "aborted", (err as Error).message, { cause: err });
      }
      throw err;
    }
    // "completed" can be reported before the shell has renamed the file.
    const stat = await pollUntil(
      `state file ${file}`,
      async () => {
        try {
          return await fsp.stat(file);
        } catch {
          return undefined;
        }
      },
      { timeoutMs: Math.max(5000, remainingMs(deadline)), intervalMs: 2 },
    ).catch((err: unknown) => {
      throw new MigrationError("save", "completed", `the state file did not appear: ${(err as Error).message}`, { cause: err });
    });
    return {
      path: file,
      sizeBytes: stat.size,
      durationMs: Date.now() - started,
      downtimeMs: info.downtime ?? null,
      ramBytes: info.ram?.transferred ?? 0,
    };
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  } finally {
    listener.close();
  }
}

/** Options of `loadState`. */
export interface LoadStateOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Must match the save: shared file-backed RAM was left out of the stream. */
  ignoreShared?: boolean;
  /**
   * The descriptor number under which QEMU inherited `file` at spawn (see
   * `StartOptions.stateFile`): QEMU then reads it directly, where otherwise it runs a shell
   * and `cat` for the stream (some 45 ms per load here).
   */
  inheritedFd?: number;
}

/** What a load did. */
export interface LoadStateResult {
  durationMs: number;
  /**
   * The run state after the load. QEMU restores the run state the source had when it was
   * saved: a state saved from a paused VM (a fork's stun, a template) comes up `paused` and
   * needs `cont`; one saved live comes up `running` unless the target was started paused.
   */
  status: RunState;
}

/**
 * Loads a state saved by `saveState` into a QEMU process started with `incoming: "defer"`
 * (same machine, devices, memory size and accelerator as the saved VM); throws an Error when
 * the file does not exist, MigrationError when QEMU rejects the stream (QEMU then exits) or the
 * deadline passes, QmpError otherwise.
 */
export async function loadState(qmp: QmpClient, file: string, opts: LoadStateOptions = {}): Promise<LoadStateResult> {
  if (!path.isAbsolute(file)) throw new RangeError(`loadState: ${file} is not an absolute path`);
  const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_STATE_TIMEOUT_MS, "loadState");
  const started = Date.now();
  const deadline = started + timeoutMs;
  await fsp.access(file);
  await setMigrationCapabilities(qmp, { events: true, "x-ignore-shared": opts.ignoreShared === true });
  const listener = qmp.listen("MIGRATION");
  try {
    const uri = opts.inheritedFd === undefined ? `exec:cat ${shellQuote(file)}` : `fd:${opts.inheritedFd}`;
    await qmp.execute("migrate-incoming", { uri });
    try {
      await waitForMigration(qmp, listener, { timeoutMs: remainingMs(deadline), signal: opts.signal, step: "load", pollMs: 100 });
    } catch (err) {
      if (err instanceof QmpTimeoutError) throw new MigrationError("load", "timed out", err.message, { cause: err });
      throw err;
    }
    const status = (await qmp.execute("query-status")).status;
    return { durationMs: Date.now() - started, status };
  } finally {
    listener.close();
  }
}

/** Options of `migrate`. */
export interface MigrateOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  capabilities?: Partial<Record<MigrationCapability, boolean>>;
  parameters?: MigrationParameters;
}

/**
 * Live-migrates this VM to `uri` (e.g. `tcp:HOST:PORT` of a target started with
 * `incoming: "defer"` that ran `migrate-incoming`) and waits until it ends, leaving the source
 * `postmigrate` on success; throws MigrationError (failed, cancelled, or timed out and then
 * cancelled, the source running on) or QmpError.
 */
export async function migrate(qmp: QmpClient, uri: string, opts: MigrateOptions = {}): Promise<MigrationInfo> {
  const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_STATE_TIMEOUT_MS, "migrate");
  const deadline = Date.now() + timeoutMs;
  await setMigrationCapabilities(qmp, { events: true, ...opts.capabilities });
  if (opts.parameters) await setMigrationParameters(qmp, opts.parameters);
  const listener = qmp.listen("MIGRATION");
  try {
    await qmp.execute("migrate", { uri });
    try {
      const info = await waitForMigration(qmp, listener, { timeoutMs: remainingMs(deadline), signal: opts.signal, step: "migrate" });
      // QEMU sets `completed` before it computes total-time and downtime (7.2: the migration
      // thread fills them in a moment later); ask again until they are there.
      if (info["total-time"]) return info;
      return await pollUntil(
        "the migration's figures",
        async () => {
          const again = await qmp.execute("query-migrate");
          return again["total-time"] ? again : undefined;
        },
        { timeoutMs: 2000, intervalMs: 5 },
      ).catch(() => info);
    } catch (err) {
      if (err instanceof QmpTimeoutError || err instanceof QmpAbortedError) {
        await qmp.execute("migrate_cancel").catch(() => undefined);
        throw new MigrationError("migrate", err instanceof QmpTimeoutError ? "timed out" : "aborted", (err as Error).message, { cause: err });
      }
      throw err;
    }
  } finally {
    listener.close();
  }
}
