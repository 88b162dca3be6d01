import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { listImageReferences, resolveReference, standaloneImageProblem, type ImageReference } from "./image-references";
import { toolEnv } from "./orphan-tools";

/** The binary every function here runs, looked up on PATH. */
export const QEMU_IMG = "qemu-img";

/** How long an aborted qemu-img gets to exit after SIGTERM before it is sent SIGKILL. */
const KILL_GRACE_MS = 5000;

/** Thrown when qemu-img exits with a status the caller did not expect or cannot be started; keeps the full argv, exit code (null when killed or not started) and stderr. */
export class QemuImgError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "QemuImgError";
  }
}

/** Thrown by `probeImage` when a file is not a disk image clonefleet accepts; `reason` says why. */
export class NotADiskImageError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${path} is not a disk image clonefleet accepts: ${reason}`, options);
    this.name = "NotADiskImageError";
  }
}

/** True when `err` is the rejection of an aborted call (name `AbortError`, the signal's reason in `cause`). */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}

/** Options every qemu-img function accepts. */
export interface QemuImgCallOptions {
  signal?: AbortSignal;
  /**
   * qemu-img is killed, and the call fails, when it reads and writes nothing for this long
   * (default 60 s): a source swapped for a FIFO or a hung device must not hold a job for ever.
   */
  stallTimeoutMs?: number;
}

/** Default of QemuImgCallOptions.stallTimeoutMs. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export type ImageFormat = "qcow2" | "raw";

/** What `qemu-img info` says about one image; paths are absolute. */
export interface ImageInfo {
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  /** The backing file resolved against the image's own folder, or null for a base image. */
  backingPath: string | null;
  backingFormat: string | null;
  /** Every file besides itself qemu reads when it opens the image (backing file, data file, extents). */
  references: ImageReference[];
  dirty?: boolean;
  corrupt?: boolean;
}

/** The result of `qemu-img check`; `ok` means no corruption, no leak and no check error. */
export interface CheckResult {
  ok: boolean;
  corruptions: number;
  leaks: number;
  checkErrors: number;
  imageEndOffset?: number;
  raw: Record<string, unknown>;
}

/** The result of `qemu-img compare`; `detail` is qemu-img's own wording (e.g. the first mismatching offset). */
export interface CompareResult {
  identical: boolean;
  detail: string;
}

/** What `probeImage` learned about an accepted source image. */
export interface ProbeResult {
  format: string;
  virtualSizeBytes: number;
}

interface RunOptions extends QemuImgCallOptions {
  /** Exit codes that resolve instead of throwing (0 always does). */
  okExitCodes?: readonly number[];
  /** Receives stdout as it arrives; stdout is then not collected. */
  onStdout?: (chunk: string) => void;
}

interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function abortError(what: string, signal: AbortSignal): Error {
  const err = new Error(`${what} aborted`, { cause: signal.reason });
  err.name = "AbortError";
  return err;
}

function firstMessageLine(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.replace(/^qemu-img:\s*/, ""));
  // Deprecation warnings can precede the real error; the error is what the caller needs.
  return lines.find((l) => !/^warning:/i.test(l)) ?? lines[0] ?? "";
}

function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const argv = [QEMU_IMG, ...args];
  const sub = args[0] ?? "";
  const { signal } = opts;
  return new Promise<RunResult>((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(`qemu-img ${sub}`, signal));
      return;
    }
    const child = spawn(QEMU_IMG, args, { stdio: ["ignore", "pipe", "pipe"], env: toolEnv() });
    let stdout = "";
    let stderr = "";
    let aborted = false;
    let spawnError: Error | undefined;
    let killTimer: NodeJS.Timeout | undefined;

    const onAbort = () => {
      aborted = true;
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
      killTimer.unref();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let stalled = false;
    const stopWatch = watchForStall(child.pid, opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS, () => {
      stalled = true;
      child.kill("SIGKILL");
    });

    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      if (opts.onStdout) opts.onStdout(chunk);
      else stdout += chunk;
    });
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
    });
    child.on("error", (err) => {
      spawnError = err;
    });
    // "close" (not "exit") so that stdout and stderr are complete, and so that an aborted child
    // has really gone before the caller removes the files it was writing.
    child.on("close", (code) => {
      signal?.removeEventListener("abort", onAbort);
      stopWatch();
      if (killTimer) clearTimeout(killTimer);
      if (aborted && signal) {
        reject(abortError(`qemu-img ${sub}`, signal));
        return;
      }
      if (stalled) {
        const seconds = (opts.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS) / 1000;
        reject(new QemuImgError(argv, code, stderr, `qemu-img ${sub} read and wrote nothing for ${seconds} s and was stopped (a file it reads may be a FIFO or a hung device)`));
        return;
      }
      if (spawnError) {
        reject(new QemuImgError(argv, null, stderr, `qemu-img ${sub} failed: ${spawnError.message}`, { cause: spawnError }));
        return;
      }
      if (code === 0 || (code !== null && opts.okExitCodes?.includes(code))) {
        resolve({ exitCode: code, stdout, stderr });
        return;
      }
      const line = firstMessageLine(stderr) || (code === null ? "killed by a signal" : `exited with status ${code}`);
      reject(new QemuImgError(argv, code, stderr, `qemu-img ${sub} failed: ${line}`));
    });
  });
}

/**
 * Calls `onStall` once when process `pid` has neither read nor written a byte for `timeoutMs`
 * (its /proc I/O counters stand still); answers a function that stops watching.
 */
function watchForStall(pid: number | undefined, timeoutMs: number, onStall: () => void): () => void {
  if (pid === undefined || !(timeoutMs > 0)) return () => undefined;
  let last = "";
  let since = Date.now();
  const timer = setInterval(() => {
    fsp.readFile(`/proc/${pid}/io`, "utf8").then(
      (io) => {
        const counters = (/^rchar:\s*(\d+)/m.exec(io)?.[1] ?? "") + "/" + (/^wchar:\s*(\d+)/m.exec(io)?.[1] ?? "");
        if (counters !== last) {
          last = counters;
          since = Date.now();
        } else if (Date.now() - since >= timeoutMs) {
          clearInterval(timer);
          onStall();
        }
      },
      () => undefined, // gone, or /proc unreadable: the close handler settles the call
    );
  }, Math.min(1000, Math.max(50, timeoutMs / 4)));
  timer.unref();
  return () => clearInterval(timer);
}

function checkSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
    throw new RangeError(`sizeBytes must be a non-negative integer, got ${sizeBytes}`);
  }
}

/** Creates an empty image of `sizeBytes` (qcow2 unless `format` says raw); like qemu-img it overwrites an existing file; throws QemuImgError or RangeError for a bad size. */
export async function createImage(
  imagePath: string,
  opts: { sizeBytes: number; format?: ImageFormat } & QemuImgCallOptions,
): Promise<void> {
  checkSize(opts.sizeBytes);
  await run(["create", "-q", "-f", opts.format ?? "qcow2", imagePath, String(opts.sizeBytes)], opts);
}

/** Creates a qcow2 overlay on `backingPath` (stored as given, so a relative path is relative to the overlay's folder), backing format qcow2 unless told; with `sizeBytes` the backing chain is not opened; throws QemuImgError. */
export async function createOverlay(
  imagePath: string,
  opts: { backingPath: string; backingFormat?: ImageFormat; sizeBytes?: number } & QemuImgCallOptions,
): Promise<void> {
  const args = ["create", "-q", "-f", "qcow2", "-b", opts.backingPath, "-F", opts.backingFormat ?? "qcow2"];
  if (opts.sizeBytes === undefined) {
    args.push(imagePath);
  } else {
    checkSize(opts.sizeBytes);
    // Without -u qemu-img opens the whole chain to learn the size (24 ms at depth 32, MACHINE-NOTES).
    args.push("-u", imagePath, String(opts.sizeBytes));
  }
  await run(args, opts);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Resolves a backing filename as written in an image header against the folder of the (absolute) image that holds it; `json:{…}` and URLs stay as written. */
export function resolveBackingPath(imagePath: string, backingFilename: string): string {
  return resolveReference(imagePath, backingFilename);
}

function numberField(obj: Record<string, unknown>, key: string, what: string): number {
  const v = obj[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new TypeError(`${what}: field "${key}" is missing or not a number`);
  }
  return v;
}

/** Parses one image object of `qemu-img info --output=json` for the image at `imagePath` (made absolute); pure; throws TypeError when the shape is wrong. */
export function parseImageInfoJson(json: unknown, imagePath: string): ImageInfo {
  const abs = path.resolve(imagePath);
  const what = `qemu-img info of ${abs}`;
  if (!isRecord(json)) throw new TypeError(`${what}: expected a JSON object`);
  const format = json["format"];
  if (typeof format !== "string") throw new TypeError(`${what}: field "format" is missing`);
  const virtualSizeBytes = numberField(json, "virtual-size", what);
  // qemu-img leaves "actual-size" out when the protocol cannot tell (never for local files).
  const actualSizeBytes = typeof json["actual-size"] === "number" ? json["actual-size"] : 0;
  const backingName = json["backing-filename"];
  let backingPath: string | null = null;
  if (typeof backingName === "string" && backingName !== "") {
    // "full-backing-filename" is joined onto the filename as qemu-img was given it, so it is
    // relative whenever that was; resolving "backing-filename" ourselves is always right.
    backingPath = resolveBackingPath(abs, backingName);
  }
  const backingFormat = typeof json["backing-filename-format"] === "string" ? json["backing-filename-format"] : null;
  const references = listImageReferences(json, abs);
  const info: ImageInfo = { path: abs, format, virtualSizeBytes, actualSizeBytes, backingPath, backingFormat, references };
  if (typeof json["dirty-flag"] === "boolean") info.dirty = json["dirty-flag"];
  const specific = json["format-specific"];
  if (isRecord(specific) && isRecord(specific["data"]) && typeof specific["data"]["corrupt"] === "boolean") {
    info.corrupt = specific["data"]["corrupt"];
  }
  return info;
}

/** Parses the array of `qemu-img info --backing-chain --output=json` (top first) for the chain whose top is `topPath`; each lower layer's path is the layer above's resolved backing path; pure; throws TypeError when the shape is wrong. */
export function parseImageInfoChainJson(json: unknown, topPath: string): ImageInfo[] {
  if (!Array.isArray(json) || json.length === 0) {
    throw new TypeError(`qemu-img info --backing-chain of ${path.resolve(topPath)}: expected a non-empty JSON array`);
  }
  const out: ImageInfo[] = [];
  let current = path.resolve(topPath);
  for (let i = 0; i < json.length; i++) {
    const info = parseImageInfoJson(json[i], current);
    out.push(info);
    if (i < json.length - 1) {
      if (info.backingPath === null) {
        throw new TypeError(`qemu-img info --backing-chain of ${out[0].path}: layer ${i} (${info.path}) has no backing file but more layers follow`);
      }
      current = info.backingPath;
    }
  }
  return out;
}

function parseJsonOutput(stdout: string, argv: string[], stderr: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch (err) {
    throw new QemuImgError([QEMU_IMG, ...argv], 0, stderr, `qemu-img ${argv[0]} printed no valid JSON`, { cause: err });
  }
}

/** Describes one image without opening its backing chain, also while a running QEMU holds it (-U); throws QemuImgError when qemu-img cannot open it. */
export async function imageInfo(imagePath: string, opts: QemuImgCallOptions = {}): Promise<ImageInfo> {
  const abs = path.resolve(imagePath);
  const args = ["info", "--output=json", "-U", abs];
  const r = await run(args, opts);
  return parseImageInfoJson(parseJsonOutput(r.stdout, args, r.stderr), abs);
}

/**
 * True when a process (a QEMU) holds the image open for writing: qemu-img, asking for the image
 * without -U, cannot take its lock. Image locks are what keeps two QEMUs from writing one disk;
 * this is how a host proves a lost host's QEMU no longer holds it. Other failures throw.
 */
export async function imageInUse(imagePath: string, opts: QemuImgCallOptions = {}): Promise<boolean> {
  try {
    await run(["info", "--output=json", path.resolve(imagePath)], opts);
    return false;
  } catch (err) {
    if (err instanceof QemuImgError && /lock/i.test(err.stderr)) return true;
    throw err;
  }
}

/** Describes every layer of the chain topped by `imagePath`, top first, also while a running QEMU holds it; throws QemuImgError when a layer is missing or unreadable. */
export async function imageInfoChain(imagePath: string, opts: QemuImgCallOptions = {}): Promise<ImageInfo[]> {
  const abs = path.resolve(imagePath);
  const args = ["info", "--backing-chain", "--output=json", "-U", abs];
  const r = await run(args, opts);
  return parseImageInfoChainJson(parseJsonOutput(r.stdout, args, r.stderr), abs);
}

// Formats whose images can name a backing file in qemu 7.2 (among those probeImage accepts).
const BACKING_FORMATS = new Set(["qcow2", "qed", "vmdk"]);

/** The source argument that opens `src` as `format` with its backing file, if the header names one, never opened (`"backing": null`). */
function withoutBackingFilename(src: string, format: string): string {
  return `json:${JSON.stringify({ driver: format, file: { driver: "file", filename: path.resolve(src) }, backing: null })}`;
}

/**
 * Copies the guest-visible content of `src` (its whole chain, flattened) into a new `dst` (qcow2
 * unless told), reporting progress as fractions 0..1. With `ignoreBacking` (needs `srcFormat`)
 * only `src` itself is read: a backing file its header names is not opened. On failure `dst`
 * may be left half-written; throws QemuImgError, or an AbortError once the killed qemu-img has exited.
 */
export async function convert(
  src: string,
  dst: string,
  opts: {
    srcFormat?: string;
    ignoreBacking?: boolean;
    dstFormat?: ImageFormat;
    onProgress?: (fraction: number) => void;
    rateLimitBytesPerSec?: number;
    forceShare?: boolean;
  } & QemuImgCallOptions = {},
): Promise<void> {
  if (opts.ignoreBacking && !opts.srcFormat) throw new TypeError("convert: ignoreBacking needs srcFormat");
  const args = ["convert", "-p"];
  // -U reads a chain a running QEMU holds open (a snapshot's frozen layers, S4).
  if (opts.forceShare) args.push("-U");
  let source = src;
  // The json: form names the driver itself, and "backing": null is refused by drivers without backing files.
  if (opts.ignoreBacking && opts.srcFormat && BACKING_FORMATS.has(opts.srcFormat)) source = withoutBackingFilename(src, opts.srcFormat);
  else if (opts.srcFormat) args.push("-f", opts.srcFormat);
  // A bandwidth cap keeps background copies from starving running VMs of disk throughput.
  if (opts.rateLimitBytesPerSec) args.push("-r", String(Math.max(1, Math.floor(opts.rateLimitBytesPerSec))));
  args.push("-O", opts.dstFormat ?? "qcow2", source, dst);
  const onProgress = opts.onProgress;
  let pending = "";
  let last = -1;
  const report = (segment: string) => {
    const m = /\((\d+(?:\.\d+)?)\/100%\)/.exec(segment);
    if (!m || !onProgress) return;
    const fraction = Math.min(1, Math.max(0, Number(m[1]) / 100));
    // qemu-img repeats the final 100% line; callers get each value once.
    if (fraction !== last) {
      last = fraction;
      onProgress(fraction);
    }
  };
  await run(args, {
    signal: opts.signal,
    stallTimeoutMs: opts.stallTimeoutMs,
    // -p writes "    (12.50/100%)\r" to stdout even when it is not a terminal.
    onStdout: (chunk) => {
      pending += chunk;
      const parts = pending.split(/[\r\n]/);
      pending = parts.pop() ?? "";
      for (const p of parts) report(p);
    },
  });
  if (pending) report(pending);
}

/** Changes the backing file of `imagePath` to `backingPath` (null: no backing file); unsafe only rewrites the header, safe also copies whatever differs so the guest sees the same data; throws QemuImgError. */
export async function rebase(
  imagePath: string,
  opts: { backingPath: string | null; backingFormat?: ImageFormat; unsafe: boolean } & QemuImgCallOptions,
): Promise<void> {
  const args = ["rebase", "-q"];
  if (opts.unsafe) args.push("-u");
  if (opts.backingPath === null) {
    args.push("-b", "");
  } else {
    args.push("-b", opts.backingPath, "-F", opts.backingFormat ?? "qcow2");
  }
  args.push(imagePath);
  await run(args, opts);
}

/** Writes the content of `imagePath` into its backing file, or into `base` further down its chain (which implies `drop` and leaves the layers in between invalid); `drop` skips emptying the image; throws QemuImgError. */
export async function commit(imagePath: string, opts: { base?: string; drop?: boolean } & QemuImgCallOptions = {}): Promise<void> {
  const args = ["commit", "-q"];
  if (opts.base !== undefined) args.push("-b", opts.base);
  if (opts.drop) args.push("-d");
  args.push(imagePath);
  await run(args, opts);
}

/** Checks the consistency of an image; a corrupt or leaking image resolves with `ok: false`; throws QemuImgError when there is no report (unreadable file, a format without checks such as raw, an image in use). */
export async function check(imagePath: string, opts: QemuImgCallOptions = {}): Promise<CheckResult> {
  const args = ["check", "--output=json", imagePath];
  // Exit 2 means corruptions and 3 means leaks, and qemu-img still prints its report then; exit 1
  // (the check itself failed) may or may not come with one.
  const r = await run(args, { ...opts, okExitCodes: [1, 2, 3] });
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  if (!isRecord(json)) {
    const line = firstMessageLine(r.stderr) || `exited with status ${r.exitCode} without a report`;
    throw new QemuImgError([QEMU_IMG, ...args], r.exitCode, r.stderr, `qemu-img check failed: ${line}`);
  }
  const count = (key: string) => (typeof json[key] === "number" ? (json[key] as number) : 0);
  const corruptions = count("corruptions");
  const leaks = count("leaks");
  const checkErrors = count("check-errors");
  const result: CheckResult = { ok: corruptions === 0 && leaks === 0 && checkErrors === 0, corruptions, leaks, checkErrors, raw: json };
  if (typeof json["image-end-offset"] === "number") result.imageEndOffset = json["image-end-offset"];
  return result;
}

/** Compares the guest-visible content of two images (`strict` also fails on a size difference); throws QemuImgError when qemu-img cannot compare them. */
export async function compare(a: string, b: string, opts: { strict?: boolean } & QemuImgCallOptions = {}): Promise<CompareResult> {
  const args = ["compare"];
  if (opts.strict) args.push("-s");
  args.push(a, b);
  const r = await run(args, { ...opts, okExitCodes: [1] });
  const detail = [r.stdout, r.stderr]
    .join("\n")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .join("\n");
  return { identical: r.exitCode === 0, detail };
}

const ACCEPTED_FORMATS = new Set(["qcow2", "vmdk", "vdi", "vhdx", "vpc", "qed"]);

/**
 * Validates a user-supplied source image: a standalone qcow2, vmdk, vdi, vhdx, vpc or qed image
 * passes (no backing file, no external data file, no extent outside the image's folder once
 * symlinks are resolved), raw passes only with a non-zero size that is a multiple of 512;
 * throws NotADiskImageError for anything else, including a missing file.
 */
export async function probeImage(imagePath: string, opts: QemuImgCallOptions = {}): Promise<ProbeResult> {
  const abs = path.resolve(imagePath);
  let st;
  try {
    st = await fsp.stat(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new NotADiskImageError(abs, code === "ENOENT" ? "the file does not exist" : `cannot stat it (${code ?? String(err)})`, { cause: err });
  }
  if (!st.isFile()) throw new NotADiskImageError(abs, "it is not a regular file");
  let info: ImageInfo;
  try {
    info = await imageInfo(abs, opts);
  } catch (err) {
    if (isAbortError(err)) throw err;
    const line = err instanceof QemuImgError ? firstMessageLine(err.stderr) : String(err);
    throw new NotADiskImageError(abs, `qemu-img cannot read it (${line})`, { cause: err });
  }
  if (ACCEPTED_FORMATS.has(info.format)) {
    const problem = standaloneImageProblem(await Promise.all(info.references.map(realReference)), await realPath(path.dirname(abs)));
    if (problem) throw new NotADiskImageError(abs, problem);
    return { format: info.format, virtualSizeBytes: info.virtualSizeBytes };
  }
  if (info.format === "raw") {
    // qemu-img probes any unrecognised file as raw and rounds its size up to 512, so the real
    // file size is what tells a disk from, say, a text file.
    if (st.size === 0) throw new NotADiskImageError(abs, "it is an empty file");
    if (st.size % 512 !== 0) {
      throw new NotADiskImageError(abs, `it is not in a known image format and its size (${st.size} bytes) is not a multiple of 512`);
    }
    return { format: "raw", virtualSizeBytes: st.size };
  }
  throw new NotADiskImageError(abs, `format ${JSON.stringify(info.format)} is not accepted (use qcow2, raw, vmdk, vdi, vhdx, vpc or qed)`);
}

// A missing file keeps its lexical path: qemu-img would fail to open it anyway.
async function realPath(p: string): Promise<string> {
  return fsp.realpath(p).catch(() => p);
}

async function realReference(ref: ImageReference): Promise<ImageReference> {
  return ref.target.startsWith("/") ? { ...ref, target: await realPath(ref.target) } : ref;
}
