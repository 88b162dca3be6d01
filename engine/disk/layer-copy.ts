import { constants as fsc, promises as fsp } from "node:fs";
import * as path from "node:path";
import { reflinkSupported } from "./copy";
import { ENGINE_FILE_MODE } from "./file-modes";
import type { QemuImgCallOptions } from "./qemu-img";

/** How `copyLayerFile` made the copy and how many bytes of the source it carried. */
export interface LayerCopyResult {
  method: "reflink" | "stream";
  /** Size of the source file: what a copy of this layer costs. */
  bytes: number;
}

const CHUNK_BYTES = 1024 * 1024;

// Errors with which the kernel says "this filesystem cannot clone extents" (see copy.ts).
const NO_REFLINK_CODES = new Set(["ENOTSUP", "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "ENOTTY"]);

function abortError(signal: AbortSignal): Error {
  const err = new Error("layer copy aborted", { cause: signal.reason });
  err.name = "AbortError";
  return err;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Copies one layer file byte for byte into the new file `dst` (its own clusters only: the copy
 * keeps the source's backing reference, which the caller re-points with an unsafe rebase): a
 * reflink when both share a reflink-capable filesystem (it moves no data, so no rate limit
 * applies), else a streamed copy that keeps holes and honours `rateLimitBytesPerSec`; `dst` is fsynced on success
 * and removed on failure; throws an AbortError, or the filesystem's error (EEXIST when `dst` exists).
 */
export async function copyLayerFile(
  src: string,
  dst: string,
  opts: { rateLimitBytesPerSec?: number; onProgress?: (bytesDone: number) => void } & QemuImgCallOptions = {},
): Promise<LayerCopyResult> {
  const { signal, onProgress } = opts;
  if (signal?.aborted) throw abortError(signal);
  const absSrc = path.resolve(src);
  const absDst = path.resolve(dst);
  const srcStat = await fsp.stat(absSrc);
  if (!srcStat.isFile()) throw new Error(`${absSrc} is not a regular file`);
  const dirStat = await fsp.stat(path.dirname(absDst));
  const canReflink = srcStat.dev === dirStat.dev && (await reflinkSupported(path.dirname(absDst)));

  // Claim the name first, so a failure never removes a file someone else owned.
  await (await fsp.open(absDst, "wx", ENGINE_FILE_MODE)).close();
  let method: LayerCopyResult["method"] = "stream";
  try {
    if (canReflink) {
      try {
        await fsp.copyFile(absSrc, absDst, fsc.COPYFILE_FICLONE_FORCE);
        // copyFile gives the clone the source's mode, which may be a user's looser one.
        await fsp.chmod(absDst, ENGINE_FILE_MODE);
        method = "reflink";
      } catch (err) {
        if (!NO_REFLINK_CODES.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      }
    }
    if (method === "stream") await streamCopy(absSrc, absDst, srcStat.size, opts.rateLimitBytesPerSec, signal, onProgress);
    else onProgress?.(srcStat.size);
    const fh = await fsp.open(absDst, "r+");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await fsp.rm(absDst, { force: true });
    throw err;
  }
  return { method, bytes: srcStat.size };
}

async function streamCopy(
  src: string,
  dst: string,
  size: number,
  rateLimitBytesPerSec: number | undefined,
  signal: AbortSignal | undefined,
  onProgress: ((bytesDone: number) => void) | undefined,
): Promise<void> {
  const zero = Buffer.alloc(CHUNK_BYTES);
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  const started = Date.now();
  const [input, output] = await Promise.all([fsp.open(src, "r"), fsp.open(dst, "r+")]);
  try {
    let offset = 0;
    while (offset < size) {
      if (signal?.aborted) throw abortError(signal);
      const { bytesRead } = await input.read(buf, 0, Math.min(CHUNK_BYTES, size - offset), offset);
      if (bytesRead === 0) break;
      // All-zero chunks stay holes: qcow2 files preallocated or trimmed keep their small footprint.
      if (!buf.subarray(0, bytesRead).equals(zero.subarray(0, bytesRead))) {
        let written = 0;
        while (written < bytesRead) {
          const r = await output.write(buf, written, bytesRead - written, offset + written);
          written += r.bytesWritten;
        }
      }
      offset += bytesRead;
      onProgress?.(offset);
      if (rateLimitBytesPerSec && rateLimitBytesPerSec > 0) {
        const dueMs = (offset / rateLimitBytesPerSec) * 1000 - (Date.now() - started);
        if (dueMs > 0) await sleep(dueMs, signal);
      }
    }
    // The tail may have been a hole; the copy must be as long as the source.
    await output.truncate(size);
  } finally {
    await Promise.all([input.close(), output.close()]);
  }
}
