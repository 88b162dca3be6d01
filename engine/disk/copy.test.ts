import { spawnSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fullCopy, reflinkSupported } from "./copy";
import { check, compare, createImage, createOverlay, imageInfo, isAbortError } from "./qemu-img";

const MiB = 1024 * 1024;
const EXT4_MAGIC = 0xef53;

let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-copy-"));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const p = (name: string) => path.join(dir, name);

function qemuIo(image: string, cmd: string): boolean {
  const r = spawnSync("qemu-io", ["-c", cmd, image], { encoding: "utf8" });
  return r.status === 0 && !/verification failed/i.test(r.stdout);
}

function writePattern(image: string, pattern: string, offset: string, length: string): void {
  if (!qemuIo(image, `write -P ${pattern} ${offset} ${length}`)) throw new Error(`qemu-io write to ${image} failed`);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("reflinkSupported", () => {
  test("answers for the temp folder's filesystem (false on ext4) and leaves no probe files", async () => {
    const supported = await reflinkSupported(dir);
    expect(typeof supported).toBe("boolean");
    if ((await fsp.statfs(dir)).type === EXT4_MAGIC) expect(supported).toBe(false);
    expect(await fsp.readdir(dir)).toEqual([]);
    // Cached per device: a second folder on the same filesystem gets the same answer.
    await fsp.mkdir(p("sub"));
    expect(await reflinkSupported(p("sub"))).toBe(supported);
    expect(await fsp.readdir(p("sub"))).toEqual([]);
  });

  test("throws for a folder that does not exist", async () => {
    await expect(reflinkSupported(p("missing"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("fullCopy", () => {
  test("flattens a chain into an independent qcow2 that check passes and compare finds identical", async () => {
    await createImage(p("base.qcow2"), { sizeBytes: 32 * MiB });
    writePattern(p("base.qcow2"), "0xcd", "0", "4M");
    await createOverlay(p("top.qcow2"), { backingPath: p("base.qcow2") });
    writePattern(p("top.qcow2"), "0xab", "0", "64k");
    const seen: number[] = [];
    const r = await fullCopy(p("top.qcow2"), p("copy.qcow2"), { onProgress: (f) => seen.push(f) });
    expect(r.method).toBe("convert");
    expect(r.bytes).toBe((await fsp.stat(p("copy.qcow2"))).size);
    expect(r.bytes).toBeGreaterThan(4 * MiB);
    expect(seen[seen.length - 1]).toBe(1);
    expect(await imageInfo(p("copy.qcow2"))).toMatchObject({ format: "qcow2", backingPath: null, virtualSizeBytes: 32 * MiB });
    expect((await check(p("copy.qcow2"))).ok).toBe(true);
    expect((await compare(p("top.qcow2"), p("copy.qcow2"))).identical).toBe(true);

    // Independent: the copy survives its source and changes to it do not leak back.
    writePattern(p("copy.qcow2"), "0x77", "1M", "64k");
    expect((await compare(p("top.qcow2"), p("copy.qcow2"))).identical).toBe(false);
    expect(qemuIo(p("top.qcow2"), "read -P 0xcd 1M 64k")).toBe(true);
    await fsp.rm(p("top.qcow2"));
    await fsp.rm(p("base.qcow2"));
    expect(qemuIo(p("copy.qcow2"), "read -P 0xab 0 64k")).toBe(true);
  });

  test("copies a raw source into qcow2", async () => {
    await createImage(p("src.raw"), { sizeBytes: 4 * MiB, format: "raw" });
    writePattern(p("src.raw"), "0x42", "0", "64k");
    const r = await fullCopy(p("src.raw"), p("dst.qcow2"));
    expect(r.method).toBe("convert");
    expect((await imageInfo(p("dst.qcow2"))).format).toBe("qcow2");
    expect((await compare(p("src.raw"), p("dst.qcow2"))).identical).toBe(true);
  });

  test("refuses an existing destination and leaves it alone", async () => {
    await createImage(p("src.qcow2"), { sizeBytes: MiB });
    await fsp.writeFile(p("taken.qcow2"), "someone else's file");
    await expect(fullCopy(p("src.qcow2"), p("taken.qcow2"))).rejects.toMatchObject({ code: "EEXIST" });
    expect(await fsp.readFile(p("taken.qcow2"), "utf8")).toBe("someone else's file");
  });

  test("a failing copy leaves no partial file", async () => {
    await createOverlay(p("broken.qcow2"), { backingPath: p("gone.qcow2"), sizeBytes: MiB });
    await expect(fullCopy(p("broken.qcow2"), p("dst.qcow2"))).rejects.toThrow(/gone\.qcow2/);
    await expect(fsp.stat(p("dst.qcow2"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("an abort mid-copy rejects with an AbortError and leaves no partial file", async () => {
    await createImage(p("big.qcow2"), { sizeBytes: 256 * MiB });
    writePattern(p("big.qcow2"), "0x5a", "0", "128M");
    const ac = new AbortController();
    let calls = 0;
    const err = await rejection(
      fullCopy(p("big.qcow2"), p("dst.qcow2"), {
        signal: ac.signal,
        onProgress: () => {
          calls++;
          ac.abort();
        },
      }),
    );
    expect(isAbortError(err)).toBe(true);
    expect(calls).toBeGreaterThan(0);
    expect(await fsp.readdir(dir)).toEqual(["big.qcow2"]);
  });

  test("an already aborted signal creates nothing", async () => {
    await createImage(p("src.qcow2"), { sizeBytes: MiB });
    const err = await rejection(fullCopy(p("src.qcow2"), p("dst.qcow2"), { signal: AbortSignal.abort() }));
    expect(isAbortError(err)).toBe(true);
    expect(await fsp.readdir(dir)).toEqual(["src.qcow2"]);
  });
});

// The reflink path needs a filesystem that has reflinks: an XFS made with `-m reflink=1` on a
// loop-mounted file. That takes root and mkfs.xfs (xfsprogs; CLONEFLEET_MKFS_XFS may name the
// binary); without them only the ext4 answer above is tested.
const MKFS_XFS = process.env.CLONEFLEET_MKFS_XFS || "mkfs.xfs";
const canMakeXfs = process.getuid?.() === 0 && spawnSync(MKFS_XFS, ["-V"]).status === 0;
const describeXfs = canMakeXfs ? describe : describe.skip;

describeXfs("fullCopy on XFS with reflink", () => {
  let mnt: string;

  beforeEach(async () => {
    const img = p("xfs.img");
    mnt = p("mnt");
    await fsp.mkdir(mnt);
    // 300 MiB is the smallest XFS that mkfs.xfs 6.x accepts; the file stays sparse.
    await fsp.writeFile(img, "");
    await fsp.truncate(img, 320 * MiB);
    const mk = spawnSync(MKFS_XFS, ["-q", "-m", "reflink=1", img], { encoding: "utf8" });
    if (mk.status !== 0) throw new Error(`mkfs.xfs failed: ${mk.stderr}`);
    const m = spawnSync("mount", ["-o", "loop", img, mnt], { encoding: "utf8" });
    if (m.status !== 0) throw new Error(`loop mount failed: ${m.stderr}`);
  });

  afterEach(() => {
    spawnSync("umount", [mnt]);
  });

  test("detects reflink and clones a qcow2 base, but converts a chain", async () => {
    expect(await reflinkSupported(mnt)).toBe(true);
    expect(await fsp.readdir(mnt)).toEqual([]);
    const src = path.join(mnt, "base.qcow2");
    await createImage(src, { sizeBytes: 64 * MiB });
    writePattern(src, "0xab", "0", "8M");
    const seen: number[] = [];
    const r = await fullCopy(src, path.join(mnt, "copy.qcow2"), { onProgress: (f) => seen.push(f) });
    expect(r).toEqual({ method: "reflink", bytes: (await fsp.stat(src)).size });
    expect(seen).toEqual([1]);
    expect((await check(path.join(mnt, "copy.qcow2"))).ok).toBe(true);
    expect((await compare(src, path.join(mnt, "copy.qcow2"))).identical).toBe(true);
    writePattern(path.join(mnt, "copy.qcow2"), "0x11", "0", "64k");
    expect(qemuIo(src, "read -P 0xab 0 64k")).toBe(true);

    await createOverlay(path.join(mnt, "top.qcow2"), { backingPath: src });
    const chained = await fullCopy(path.join(mnt, "top.qcow2"), path.join(mnt, "flat.qcow2"));
    expect(chained.method).toBe("convert");
    expect((await imageInfo(path.join(mnt, "flat.qcow2"))).backingPath).toBeNull();

    // A copy from another filesystem cannot be a reflink.
    await createImage(p("outside.qcow2"), { sizeBytes: MiB });
    expect((await fullCopy(p("outside.qcow2"), path.join(mnt, "in.qcow2"))).method).toBe("convert");
  });
});
