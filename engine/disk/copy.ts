import { randomBytes } from "node:crypto";
import { constants as fsc, promises as fsp } from "node:fs";
import * as path from "node:path";
import { ENGINE_FILE_MODE } from "./file-modes";
import { convert, imageInfo, type QemuImgCallOptions } from "./qemu-img";

/** How `fullCopy` made the copy and how large the new file is. */
export interface FullCopyResult {
  method: "reflink" | "convert";
  bytes: number;
}

// Errors with which the kernel says "this filesystem cannot clone extents"; anything else is a
// real failure (permissions, no space) that a copy would hit too.
const NO_REFLINK_CODES = new Set(["ENOTSUP", "EOPNOTSUPP", "EXDEV", "EINVAL", "ENOSYS", "ENOTTY"]);

const reflinkByDevice = new Map<number, boolean>();

/** Tells whether the filesystem holding the existing folder `dir` supports reflink copies, by cloning a probe file there (removed afterwards); the answer is cached per device; throws when the folder cannot be written. */
export async function reflinkSupported(dir: string): Promise<boolean> {
  const st = await fsp.stat(dir);
  const cached = reflinkByDevice.get(st.dev);
  if (cached !== undefined) return cached;
  const tag = `${process.pid}.${randomBytes(6).toString("hex")}`;
  const a = path.join(dir, `.clonefleet-reflink-probe.${tag}.a`);
  const b = path.join(dir, `.clonefleet-reflink-probe.${tag}.b`);
  let supported: boolean;
  try {
    await fsp.writeFile(a, "clonefleet reflink probe\n", { flag: "wx" });
    try {
      await fsp.copyFile(a, b, fsc.COPYFILE_EXCL | fsc.COPYFILE_FICLONE_FORCE);
      supported = true;
    } catch (err) {
      if (!NO_REFLINK_CODES.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      supported = false;
    }
  } finally {
    await Promise.all([fsp.rm(a, { force: true }), fsp.rm(b, { force: true })]);
  }
  reflinkByDevice.set(st.dev, supported);
  return supported;
}

function abortError(signal: AbortSignal): Error {
  const err = new Error("full copy aborted", { cause: signal.reason });
  err.name = "AbortError";
  return err;
}

/** Makes `dst` an independent full copy of the image `src` (a chain is flattened): a reflink when `src` is a qcow2 base and `dst`'s folder shares its reflink-capable filesystem, else `qemu-img convert -O qcow2` (capped at `rateLimitBytesPerSec` when given); `dst` must not exist yet, and it is fsynced on success and removed on failure or abort; no running QEMU may write `src` (convert fails on QEMU's lock, a reflink cannot see it); throws QemuImgError, an AbortError, or the filesystem's error (EEXIST when `dst` exists). */
export async function fullCopy(
  src: string,
  dst: string,
  opts: { onProgress?: (fraction: number) => void; rateLimitBytesPerSec?: number } & QemuImgCallOptions = {},
): Promise<FullCopyResult> {
  const { signal, onProgress, rateLimitBytesPerSec } = opts;
  if (signal?.aborted) throw abortError(signal);
  const absSrc = path.resolve(src);
  const absDst = path.resolve(dst);
  const dstDir = path.dirname(absDst);
  const info = await imageInfo(absSrc, { signal });
  const [srcStat, dirStat] = await Promise.all([fsp.stat(absSrc), fsp.stat(dstDir)]);
  const canReflink =
    info.format === "qcow2" && info.backingPath === null && srcStat.dev === dirStat.dev && (await reflinkSupported(dstDir));

  // Claim the name first: from here on a failure may remove dst, and it must never be a file
  // that someone else owned.
  await (await fsp.open(absDst, "wx", ENGINE_FILE_MODE)).close();
  let method: FullCopyResult["method"] = "convert";
  try {
    if (canReflink) {
      try {
        // Cloning onto our own empty placeholder keeps the name claimed throughout.
        await fsp.copyFile(absSrc, absDst, fsc.COPYFILE_FICLONE_FORCE);
        // copyFile gives the clone the source's mode, which may be a user's looser one.
        await fsp.chmod(absDst, ENGINE_FILE_MODE);
        method = "reflink";
      } catch (err) {
        if (!NO_REFLINK_CODES.has((err as NodeJS.ErrnoException).code ?? "")) throw err;
      }
      if (signal?.aborted) throw abortError(signal);
    }
    if (method === "convert") {
      // A reflink moves no data, so only the convert path needs the bandwidth cap.
      await convert(absSrc, absDst, { dstFormat: "qcow2", onProgress, signal, rateLimitBytesPerSec });
    }
    // qemu-img convert writes with cache=unsafe (no flush), so the data is durable only after
    // this; the caller's rename would otherwise be able to publish an empty file after a crash.
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
  if (method === "reflink") onProgress?.(1);
  const bytes = (await fsp.stat(absDst)).size;
  return { method, bytes };
}
