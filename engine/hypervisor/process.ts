/**
 * QEMU processes. A VM's QEMU runs detached from the engine (its own process group, stdio to
 * files, a pidfile), so VMs outlive an engine restart; everything needed to find one again
 * is in its state folder (see `stateFiles`), and `QemuProcess.reattach` finds it there.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { promises as fsp, constants as fsConstants } from "node:fs";
import type { Accel } from "./accel";
import { QEMU_SYSTEM, buildQemuArgs, portSocketPath, stateFiles, type StateFiles, type VmSpec } from "./args";
import { WaitTimeoutError, checkTimeout, pollUntil, remainingMs, sleep } from "./deadline";
import { QemuStartError, VmAlreadyRunningError, VmNotRunningError } from "./errors";
import { silentLog, type HypervisorLog } from "./log";
import { isLiveQemuOf } from "./liveness";
import { QmpClient } from "./qmp/client";
import type { RunState } from "./qmp/commands";
import { QmpError } from "./qmp/errors";
import { loadState, type LoadStateOptions, type LoadStateResult } from "./state";

/** Default deadline for a QEMU process to answer on its QMP socket after spawn. */
export const DEFAULT_START_TIMEOUT_MS = 15000;

/** Default time the guest gets to power off after `system_powerdown`. */
export const DEFAULT_POWERDOWN_TIMEOUT_MS = 30000;

/** Time QEMU gets to exit after `quit` before it is sent SIGKILL. */
const QUIT_TIMEOUT_MS = 3000;

/** Time a SIGKILLed process gets to disappear (the kernel frees its memory first). */
const KILL_TIMEOUT_MS = 10000;

/** QEMU's version as `--version` prints it. */
export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
  /** e.g. "7.2.22" */
  version: string;
  /** Distribution package string, e.g. "Debian 1:7.2+dfsg-7+deb12u18+b3", or "". */
  package: string;
}

/** What `vm.json` in a state folder records about the process started there. */
export interface VmProcessRecord {
  format: 1;
  spec: VmSpec;
  binary: string;
  argv: string[];
  qemuVersion: string;
  /** Null in the record written just before spawn; QEMU's pidfile is the authority. */
  pid: number | null;
  startedAt: string;
}

/** How a process ended, when known (a reattached process's exit status is not). */
export interface ExitInfo {
  code: number | null;
  signal: string | null;
}

/** What a state folder holds: `running` (a live QEMU of this folder), `dead` (a record whose process is gone) or `empty` (no record). */
export type VmProbe = { state: "running"; pid: number; record: VmProcessRecord } | { state: "dead"; pid: number | null; record: VmProcessRecord } | { state: "empty" };

/** How `shutdown` stopped the VM. */
export interface ShutdownResult {
  method: "powerdown" | "quit" | "kill" | "already-gone";
  elapsedMs: number;
}

/** Options of `QemuProcess.start`. */
export interface StartOptions {
  qemuBinary?: string;
  /** Deadline for the QMP socket to answer after spawn (default 15 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: HypervisorLog;
  /**
   * A saved state (from `saveState`) for a VM started with `incoming: "defer"`: QEMU inherits
   * it open as descriptor STATE_FILE_FD, and `loadStartState` loads it from there.
   */
  stateFile?: string;
}

/** The descriptor number a QEMU started with `StartOptions.stateFile` reads its state from. */
export const STATE_FILE_FD = 3;

/** Options of `QemuProcess.reattach`. */
export interface ReattachOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  log?: HypervisorLog;
}

const versionCache = new Map<string, Promise<QemuVersion>>();

/** Runs `<binary> --version` once per binary and parses it; throws an Error when the binary is missing or prints something else. */
export function qemuVersion(binary: string = QEMU_SYSTEM): Promise<QemuVersion> {
  let cached = versionCache.get(binary);
  if (!cached) {
    cached = readVersion(binary);
    versionCache.set(binary, cached);
    cached.catch(() => versionCache.delete(binary));
  }
  return cached;
}

function readVersion(binary: string): Promise<QemuVersion> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ["--version"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.resume();
    const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`${binary} --version: ${err.message}`, { cause: err }));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const m = /version (\d+)\.(\d+)\.(\d+)(?:\s*\(([^)]*)\))?/.exec(out);
      if (code !== 0 || !m) {
        reject(new Error(`${binary} --version exited ${code} and printed: ${out.trim().slice(0, 200)}`));
        return;
      }
      resolve({ major: +m[1], minor: +m[2], micro: +m[3], version: `${m[1]}.${m[2]}.${m[3]}`, package: m[4] ?? "" });
    });
  });
}

async function readPid(file: string): Promise<number | null> {
  try {
    const pid = Number.parseInt((await fsp.readFile(file, "utf8")).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

async function readRecord(files: StateFiles): Promise<VmProcessRecord | null> {
  let text: string;
  try {
    text = await fsp.readFile(files.specFile, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  const record = JSON.parse(text) as VmProcessRecord;
  if (record.format !== 1 || (typeof record.pid !== "number" && record.pid !== null) || !record.spec) {
    throw new Error(`${files.specFile} is not a clonefleet VM process record`);
  }
  return record;
}

async function writeFileAtomic(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, content, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

async function tail(file: string, bytes = 2000): Promise<string> {
  try {
    const handle = await fsp.open(file, fsConstants.O_RDONLY);
    try {
      const { size } = await handle.stat();
      const start = Math.max(0, size - bytes);
      const buf = Buffer.alloc(size - start);
      await handle.read(buf, 0, buf.length, start);
      return buf.toString("utf8").trim();
    } finally {
      await handle.close();
    }
  } catch {
    return "";
  }
}

/** Paths QEMU creates and leaves behind when killed: sockets and the pidfile. */
function leftovers(spec: VmSpec): string[] {
  const files = stateFiles(spec.stateDir);
  return [files.qmpSocket, files.pidFile, ...(spec.serialPorts ?? []).map((p) => portSocketPath(spec.stateDir, p))];
}

async function removeLeftovers(spec: VmSpec): Promise<void> {
  await Promise.all(leftovers(spec).map((f) => fsp.rm(f, { force: true })));
}

/** Looks at a state folder without connecting: is its QEMU alive, dead, or was none ever started there? Throws only on an unreadable record. */
export async function probeVm(stateDir: string): Promise<VmProbe> {
  const files = stateFiles(stateDir);
  const record = await readRecord(files);
  if (!record) return { state: "empty" };
  const pid = (await readPid(files.pidFile)) ?? record.pid;
  if (pid !== null && (await isLiveQemuOf(pid, files))) return { state: "running", pid, record };
  return { state: "dead", pid, record };
}

/**
 * The run state QEMU reports for the VM in `stateDir` (`running`, `paused`, `postmigrate`, …),
 * or null when no live QEMU answers there; for recoveries that must judge what a crash left.
 */
export async function runStatusOf(stateDir: string | null): Promise<string | null> {
  if (!stateDir || (await probeVm(stateDir).catch(() => null))?.state !== "running") return null;
  try {
    const p = await QemuProcess.reattach(stateDir, { timeoutMs: 5000 });
    try {
      return await p.status({ timeoutMs: 5000 });
    } finally {
      await p.detach().catch(() => undefined);
    }
  } catch {
    return null;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // The negative pid addresses QEMU's process group: it and any helper it spawned (the
    // shell of an `exec:` migration) go together.
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    try {
      process.kill(pid, signal);
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code !== "ESRCH") throw inner;
    }
  }
}

/**
 * One running QEMU process and its QMP connection. Make it with `QemuProcess.start` or
 * `QemuProcess.reattach`; the VM keeps running when the object is dropped or `detach`ed.
 */
export class QemuProcess {
  private exitInfo: ExitInfo | null = null;
  private exitWaiters: (() => void)[] = [];

  private constructor(
    /** The spec the process was started from. */
    readonly spec: VmSpec,
    /** The QEMU process id (also its process group id). */
    readonly pid: number,
    /** The QMP connection; it stays usable until `detach`, `kill` or the process ends. */
    readonly qmp: QmpClient,
    /** The argv QEMU was started with (without the binary). */
    readonly argv: readonly string[],
    private readonly child: ChildProcess | null,
    private readonly log: HypervisorLog,
    /** The state file QEMU inherited at start (StartOptions.stateFile), until `loadStartState` used it. */
    private stateFile: string | null = null,
  ) {
    if (child) {
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => this.markExited({ code, signal });
      if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
      else child.once("exit", onExit);
    }
  }

  /** The state folder's paths. */
  get files(): StateFiles {
    return stateFiles(this.spec.stateDir);
  }

  /** The folder this VM's state lives in. */
  get stateDir(): string {
    return this.spec.stateDir;
  }

  /** The accelerator the process runs with. */
  get accel(): Accel {
    return this.spec.accel;
  }

  /** How the process ended, once it has (for processes started by this engine). */
  get exit(): ExitInfo | null {
    return this.exitInfo;
  }

  /**
   * Starts QEMU for `spec` detached (own process group, stdio to `qemu.log`, `-pidfile`),
   * waits until its QMP socket answers and records `vm.json` in the state folder; throws
   * VmSpecError (bad spec), VmAlreadyRunningError (the folder's QEMU is alive) or
   * QemuStartError (QEMU exited, did not answer in time, or the start was aborted; nothing is
   * left running).
   */
  static async start(spec: VmSpec, opts: StartOptions = {}): Promise<QemuProcess> {
    const argv = buildQemuArgs(spec);
    const binary = opts.qemuBinary ?? QEMU_SYSTEM;
    const log = opts.log ?? silentLog;
    const timeoutMs = checkTimeout(opts.timeoutMs ?? DEFAULT_START_TIMEOUT_MS, "QemuProcess.start");
    const deadline = Date.now() + timeoutMs;
    const files = stateFiles(spec.stateDir);

    await fsp.mkdir(spec.stateDir, { recursive: true, mode: 0o700 });
    const probe = await probeVm(spec.stateDir).catch(() => ({ state: "empty" }) as VmProbe);
    if (probe.state === "running") throw new VmAlreadyRunningError(spec.stateDir, probe.pid);
    const version = await qemuVersion(binary);
    await removeLeftovers(spec);

    // The record goes down before the spawn: should the engine die right after it, the next
    // engine still finds this QEMU (through the record and QEMU's pidfile) instead of an orphan.
    const record: VmProcessRecord = { format: 1, spec, binary, argv, qemuVersion: version.version, pid: null, startedAt: new Date().toISOString() };
    await writeFileAtomic(files.specFile, JSON.stringify(record, null, 2) + "\n");

    const logHandle = await fsp.open(files.qemuLog, "w", 0o600);
    let child: ChildProcess;
    try {
      const stateHandle = opts.stateFile === undefined ? null : await fsp.open(opts.stateFile, "r").catch(async (err: unknown) => {
        await fsp.rm(files.specFile, { force: true });
        throw err;
      });
      try {
        const stdio: StdioOptions = ["ignore", logHandle.fd, logHandle.fd, ...(stateHandle ? [stateHandle.fd] : [])];
        child = spawn(binary, argv, { detached: true, stdio, cwd: spec.stateDir });
      } finally {
        await stateHandle?.close();
      }
    } finally {
      await logHandle.close();
    }
    // Keep the engine's event loop free to exit; the child handle still reaps QEMU if it ends
    // while the engine runs.
    child.unref();

    let exited: ExitInfo | null = null;
    let spawnError: Error | null = null;
    child.once("exit", (code, signal) => (exited = { code, signal }));
    child.once("error", (err) => (spawnError = err));

    const fail = async (message: string, cause?: unknown): Promise<never> => {
      if (child.pid && !exited) {
        signalGroup(child.pid, "SIGKILL");
        await pollUntil("QEMU exit after a failed start", () => (exited ? true : undefined), { timeoutMs: KILL_TIMEOUT_MS }).catch(() => undefined);
      }
      await removeLeftovers(spec);
      await fsp.rm(files.specFile, { force: true });
      const status = exited as ExitInfo | null;
      const logTail = await tail(files.qemuLog);
      throw new QemuStartError([binary, ...argv], status?.code ?? null, status?.signal ?? null, logTail, `${message}${logTail ? `: ${logTail.split("\n").slice(-3).join(" | ")}` : ""}`, { cause });
    };

    const started = Date.now();
    let qmp: QmpClient | null = null;
    let lastError: unknown;
    while (!qmp) {
      if (spawnError) return fail(`cannot run ${binary}: ${(spawnError as Error).message}`, spawnError);
      if (exited) {
        const e = exited as ExitInfo;
        return fail(`QEMU exited during start (${e.signal ? `signal ${e.signal}` : `status ${e.code}`})`);
      }
      if (opts.signal?.aborted) return fail("start aborted", opts.signal.reason);
      const left = remainingMs(deadline);
      if (left <= 0) return fail(`QEMU did not answer on ${files.qmpSocket} within ${timeoutMs} ms`, lastError);
      try {
        qmp = await QmpClient.connect(files.qmpSocket, { timeoutMs: Math.min(left, 5000), signal: opts.signal, log });
      } catch (err) {
        lastError = err;
        // The socket appears some milliseconds after spawn; ENOENT and ECONNREFUSED until then.
        await sleep(5).catch(() => undefined);
      }
    }
    const pid = child.pid!;
    try {
      await writeFileAtomic(files.specFile, JSON.stringify({ ...record, pid }, null, 2) + "\n");
    } catch (err) {
      await qmp.disconnect();
      return fail(`cannot write ${files.specFile}`, err);
    }
    log.info({ vm: spec.name, pid, accel: spec.accel, ms: Date.now() - started }, "qemu started");
    return new QemuProcess(spec, pid, qmp, argv, child, log, opts.stateFile ?? null);
  }

  /**
   * Finds the QEMU process of `stateDir` after an engine restart (pidfile and `vm.json`),
   * checks that it is alive and really that folder's QEMU, and connects to its QMP socket;
   * throws VmNotRunningError when it is gone (the caller marks the VM stopped) or
   * QmpConnectError when it lives but its monitor does not answer (another client, or hung).
   */
  static async reattach(stateDir: string, opts: ReattachOptions = {}): Promise<QemuProcess> {
    const log = opts.log ?? silentLog;
    const probe = await probeVm(stateDir);
    if (probe.state === "empty") throw new VmNotRunningError(stateDir, null, "no vm.json in the state folder");
    if (probe.state === "dead") throw new VmNotRunningError(stateDir, probe.pid, "the process is gone");
    const files = stateFiles(stateDir);
    const qmp = await QmpClient.connect(files.qmpSocket, { timeoutMs: opts.timeoutMs ?? 5000, signal: opts.signal, log });
    log.info({ vm: probe.record.spec.name, pid: probe.pid }, "qemu reattached");
    return new QemuProcess(probe.record.spec, probe.pid, qmp, probe.record.argv, null, log);
  }

  /**
   * Loads the state file this process inherited at start (StartOptions.stateFile) from its
   * descriptor; once only, as the descriptor is read through. Throws RangeError when it was
   * started without one, else as `loadState`.
   */
  async loadStartState(opts: Omit<LoadStateOptions, "inheritedFd"> = {}): Promise<LoadStateResult> {
    const file = this.stateFile;
    if (file === null) throw new RangeError(`loadStartState: QEMU of ${this.spec.stateDir} was started without a state file, or already loaded it`);
    this.stateFile = null;
    return loadState(this.qmp, file, { ...opts, inheritedFd: STATE_FILE_FD });
  }

  /** QEMU's run state (`query-status`); throws QmpError when the monitor cannot be asked. */
  async status(opts: { timeoutMs?: number } = {}): Promise<RunState> {
    return (await this.qmp.execute("query-status", undefined, opts)).status;
  }

  /** Pauses the guest's vCPUs (`stop`), idempotently; throws QmpError. */
  async pause(opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.qmp.execute("stop", undefined, opts);
  }

  /** Resumes the guest's vCPUs (`cont`); throws QmpCommandError when QEMU cannot run it (e.g. still waiting for an incoming migration). */
  async resume(opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.qmp.execute("cont", undefined, opts);
  }

  /** True while the process lives (not a zombie) and is still this state folder's QEMU. */
  async isAlive(): Promise<boolean> {
    if (this.exitInfo) return false;
    // Our own child is reaped by Node, which reports its exit status; until then it counts
    // as alive even as a zombie, so that `exit` is known once this says false.
    if (this.child) return this.child.exitCode === null && this.child.signalCode === null;
    return isLiveQemuOf(this.pid, this.files);
  }

  /** Waits until the process is gone; resolves true when it is, false when `timeoutMs` passes first. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    checkTimeout(timeoutMs, "waitForExit");
    if (!(await this.isAlive())) return true;
    const deadline = Date.now() + timeoutMs;
    let wake: (() => void) | null = null;
    const onExit = () => wake?.();
    this.exitWaiters.push(onExit);
    try {
      for (;;) {
        if (!(await this.isAlive())) return true;
        const left = remainingMs(deadline);
        if (left <= 0) return false;
        // Processes started by this engine report their exit; reattached ones are polled.
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, Math.min(left, this.child ? 200 : 20));
        });
      }
    } finally {
      this.exitWaiters = this.exitWaiters.filter((w) => w !== onExit);
    }
  }

  /**
   * Stops the VM within a deadline — `system_powerdown` and up to `powerdownTimeoutMs`
   * (default 30 s) for the guest to power off (skipped when the guest is not running: a paused
   * or incoming guest cannot react), then `quit`, then SIGKILL — and reports how it went
   * down; an unresponsive QEMU is killed, not reported as an error.
   */
  async shutdown(opts: { powerdownTimeoutMs?: number } = {}): Promise<ShutdownResult> {
    const started = Date.now();
    const powerdownTimeoutMs = checkTimeout(opts.powerdownTimeoutMs ?? DEFAULT_POWERDOWN_TIMEOUT_MS, "shutdown");
    const result = (method: ShutdownResult["method"]): ShutdownResult => ({ method, elapsedMs: Date.now() - started });
    if (!(await this.isAlive())) {
      await this.afterExit();
      return result("already-gone");
    }
    let running = false;
    try {
      running = (await this.status({ timeoutMs: 2000 })) === "running";
    } catch (err) {
      this.log.warn({ vm: this.spec.name, err: (err as Error).message }, "shutdown: status failed; skipping powerdown");
    }
    if (running && powerdownTimeoutMs > 0) {
      try {
        await this.qmp.execute("system_powerdown", undefined, { timeoutMs: 2000 });
        if (await this.waitForExit(powerdownTimeoutMs)) {
          await this.afterExit();
          return result("powerdown");
        }
      } catch (err) {
        if (!(err instanceof QmpError)) throw err;
      }
    }
    if (await this.isAlive()) {
      try {
        await this.qmp.execute("quit", undefined, { timeoutMs: 2000 });
      } catch (err) {
        // quit's reply can lose the race with the socket closing; exit is what counts.
        if (!(err instanceof QmpError)) throw err;
      }
      if (await this.waitForExit(QUIT_TIMEOUT_MS)) {
        await this.afterExit();
        return result("quit");
      }
    } else {
      await this.afterExit();
      return result("powerdown");
    }
    await this.kill();
    return result("kill");
  }

  /** Sends SIGKILL to the process group and waits until the process is gone (a process already gone is fine); throws WaitTimeoutError if it lingers past 10 s. */
  async kill(): Promise<void> {
    if (await this.isAlive()) {
      signalGroup(this.pid, "SIGKILL");
      if (!(await this.waitForExit(KILL_TIMEOUT_MS))) throw new WaitTimeoutError(`QEMU pid ${this.pid} exit after SIGKILL`, KILL_TIMEOUT_MS);
    }
    await this.afterExit();
  }

  /** Drops the QMP connection and leaves the VM running (e.g. before the engine exits). */
  async detach(): Promise<void> {
    await this.qmp.disconnect();
  }

  private async afterExit(): Promise<void> {
    await this.qmp.disconnect();
    // A killed QEMU leaves its sockets and pidfile; a clean exit removes them itself.
    await removeLeftovers(this.spec);
  }

  private markExited(info: ExitInfo): void {
    this.exitInfo = info;
    for (const w of this.exitWaiters) w();
  }
}

/** Removes a state folder's runtime leftovers (sockets, pidfile) after its QEMU is gone; refuses while it runs. Throws VmAlreadyRunningError. */
export async function cleanStateDir(stateDir: string): Promise<void> {
  const probe = await probeVm(stateDir);
  if (probe.state === "running") throw new VmAlreadyRunningError(stateDir, probe.pid);
  if (probe.state === "dead") await removeLeftovers(probe.record.spec);
  else await Promise.all([stateFiles(stateDir).qmpSocket, stateFiles(stateDir).pidFile].map((f) => fsp.rm(f, { force: true })));
}

/** Runs `fn` on the monitor of the QEMU in `stateDir` (reattached for the call, let go after); throws as QemuProcess.reattach does. */
export async function withReattachedQmp<T>(stateDir: string, fn: (qmp: QmpClient) => Promise<T>): Promise<T> {
  const proc = await QemuProcess.reattach(stateDir, { timeoutMs: 5000 });
  try {
    return await fn(proc.qmp);
  } finally {
    await proc.detach().catch(() => undefined);
  }
}
