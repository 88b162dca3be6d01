/**
 * Files a user names as sources (images, kernels, initrds) are read by the engine, as root, in
 * a job that runs after the request was checked. Between the two the file may become a FIFO
 * or a device: a plain open of a FIFO blocks until a writer comes, which for `fs.copyFile`
 * means a libuv worker thread lost for good. These open without blocking and check what they
 * opened, so the read that follows is the regular file's.
 */
import { constants, promises as fs, type Stats } from "node:fs";

/** A source is not (or no longer) a regular file. */
export class NotARegularFileError extends Error {
  constructor(readonly path: string, readonly kind: string) {
    super(`${path} is ${kind}, not a regular file`);
    this.name = "NotARegularFileError";
  }
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  if (st.isSocket()) return "a socket";
  if (st.isDirectory()) return "a directory";
  return "not a regular file";
}

/**
 * Opens `p` for reading without ever blocking in open(2), and answers the handle once fstat
 * says it is a regular file; throws NotARegularFileError otherwise (the handle is closed), or
 * the open's own error (ENOENT, EACCES…).
 */
export async function openRegularFile(p: string): Promise<fs.FileHandle> {
  const handle = await fs.open(p, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new NotARegularFileError(p, kindOf(st));
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Throws NotARegularFileError unless `p` is a regular file now; never blocks on a FIFO. */
export async function requireRegularFile(p: string): Promise<void> {
  await (await openRegularFile(p)).close();
}

/** Copies the regular file `src` to a new file `dst` (mode 0640) through one checked handle; throws NotARegularFileError for anything else. */
export async function copyRegularFile(src: string, dst: string): Promise<void> {
  const from = await openRegularFile(src);
  try {
    const to = await fs.open(dst, "wx", 0o640);
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (let pos = 0; ; ) {
        const { bytesRead } = await from.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        await to.write(buf, 0, bytesRead);
        pos += bytesRead;
      }
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}
