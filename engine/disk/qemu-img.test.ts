import { spawnSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  NotADiskImageError,
  QemuImgError,
  check,
  commit,
  compare,
  convert,
  createImage,
  createOverlay,
  imageInfo,
  imageInfoChain,
  isAbortError,
  probeImage,
  rebase,
} from "./qemu-img";

const MiB = 1024 * 1024;
let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-qemu-img-"));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const p = (name: string) => path.join(dir, name);

/** Runs qemu-io commands on an image; a failed pattern check makes qemu-io exit 1. */
function qemuIo(image: string, ...cmds: string[]): { ok: boolean; out: string } {
  const args = cmds.flatMap((c) => ["-c", c]);
  const r = spawnSync("qemu-io", [...args, image], { encoding: "utf8" });
  return { ok: r.status === 0 && !/verification failed/i.test(r.stdout), out: r.stdout + r.stderr };
}

function writePattern(image: string, pattern: string, offset: string, length: string): void {
  const r = qemuIo(image, `write -P ${pattern} ${offset} ${length}`);
  if (!r.ok) throw new Error(`qemu-io write failed: ${r.out}`);
}

function hasPattern(image: string, pattern: string, offset: string, length: string): boolean {
  return qemuIo(image, `read -P ${pattern} ${offset} ${length}`).ok;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("create and info", () => {
  test("createImage makes qcow2 and raw images of the asked size", async () => {
    await createImage(p("a.qcow2"), { sizeBytes: 4 * MiB });
    await createImage(p("a.raw"), { sizeBytes: 2 * MiB, format: "raw" });
    const q = await imageInfo(p("a.qcow2"));
    expect(q).toMatchObject({ path: p("a.qcow2"), format: "qcow2", virtualSizeBytes: 4 * MiB, backingPath: null, backingFormat: null });
    expect(q.actualSizeBytes).toBeGreaterThan(0);
    expect(q.dirty).toBe(false);
    expect(q.corrupt).toBe(false);
    const r = await imageInfo(p("a.raw"));
    expect(r).toMatchObject({ format: "raw", virtualSizeBytes: 2 * MiB, backingPath: null });
    expect((await fsp.stat(p("a.raw"))).size).toBe(2 * MiB);
  });

  test("createImage rejects a bad size before running qemu-img", async () => {
    await expect(createImage(p("x.qcow2"), { sizeBytes: -1 })).rejects.toThrow(RangeError);
    await expect(createImage(p("x.qcow2"), { sizeBytes: 1.5 })).rejects.toThrow(RangeError);
    await expect(fsp.stat(p("x.qcow2"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  test("imageInfo resolves a relative backing file against the image's folder", async () => {
    await createImage(p("base.qcow2"), { sizeBytes: MiB });
    await fsp.mkdir(p("sub"));
    await createOverlay(p("sub/top.qcow2"), { backingPath: "../base.qcow2" });
    const info = await imageInfo(p("sub/top.qcow2"));
    expect(info.backingPath).toBe(p("base.qcow2"));
    expect(info.backingFormat).toBe("qcow2");
    expect(info.virtualSizeBytes).toBe(MiB);
    // The same answer when qemu-img is handed a relative path from another working directory.
    const rel = path.relative(process.cwd(), p("sub/top.qcow2"));
    expect((await imageInfo(rel)).backingPath).toBe(p("base.qcow2"));
  });

  test("imageInfoChain lists a 3-deep chain top first with absolute paths", async () => {
    await createImage(p("base.qcow2"), { sizeBytes: 8 * MiB });
    await createOverlay(p("mid.qcow2"), { backingPath: p("base.qcow2") });
    await createOverlay(p("top.qcow2"), { backingPath: "mid.qcow2", backingFormat: "qcow2" });
    const chain = await imageInfoChain(p("top.qcow2"));
    expect(chain.map((l) => l.path)).toEqual([p("top.qcow2"), p("mid.qcow2"), p("base.qcow2")]);
    expect(chain.map((l) => l.backingPath)).toEqual([p("mid.qcow2"), p("base.qcow2"), null]);
    expect(chain.every((l) => l.format === "qcow2" && l.virtualSizeBytes === 8 * MiB)).toBe(true);
  });

  test("createOverlay with a size does not open the chain; without one it must", async () => {
    await createOverlay(p("a.qcow2"), { backingPath: p("missing.qcow2"), sizeBytes: 3 * MiB });
    const info = await imageInfo(p("a.qcow2"));
    expect(info).toMatchObject({ virtualSizeBytes: 3 * MiB, backingPath: p("missing.qcow2") });

    const err = await rejection(createOverlay(p("b.qcow2"), { backingPath: p("missing.qcow2") }));
    expect(err).toBeInstanceOf(QemuImgError);
    const e = err as QemuImgError;
    expect(e.argv.slice(0, 2)).toEqual(["qemu-img", "create"]);
    expect(e.argv).toContain("-b");
    expect(e.exitCode).toBe(1);
    expect(e.stderr).toMatch(/missing\.qcow2/);
    expect(e.message).toMatch(/^qemu-img create failed: .*missing\.qcow2/);
  });

  test("imageInfo of a missing file throws QemuImgError naming the file", async () => {
    const err = await rejection(imageInfo(p("nope.qcow2")));
    expect(err).toBeInstanceOf(QemuImgError);
    expect((err as QemuImgError).message).toMatch(/^qemu-img info failed: Could not open .*nope\.qcow2/);
  });
});

describe("convert", () => {
  test("flattens a chain and reports rising progress ending at 1", async () => {
    await createImage(p("base.qcow2"), { sizeBytes: 64 * MiB });
    writePattern(p("base.qcow2"), "0xcd", "0", "16M");
    await createOverlay(p("top.qcow2"), { backingPath: p("base.qcow2") });
    writePattern(p("top.qcow2"), "0xab", "0", "64k");
    const seen: number[] = [];
    await convert(p("top.qcow2"), p("copy.qcow2"), { onProgress: (f) => seen.push(f) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every((f) => f >= 0 && f <= 1)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen[seen.length - 1]).toBe(1);
    const info = await imageInfo(p("copy.qcow2"));
    expect(info).toMatchObject({ format: "qcow2", backingPath: null, virtualSizeBytes: 64 * MiB });
    expect(await compare(p("top.qcow2"), p("copy.qcow2"))).toMatchObject({ identical: true });
    expect(hasPattern(p("copy.qcow2"), "0xab", "0", "64k")).toBe(true);
    expect(hasPattern(p("copy.qcow2"), "0xcd", "64k", "1M")).toBe(true);
  });

  test("converts to raw when asked", async () => {
    await createImage(p("a.qcow2"), { sizeBytes: 4 * MiB });
    writePattern(p("a.qcow2"), "0x11", "0", "64k");
    await convert(p("a.qcow2"), p("a.raw"), { dstFormat: "raw", srcFormat: "qcow2" });
    expect((await imageInfo(p("a.raw"))).format).toBe("raw");
    expect((await fsp.stat(p("a.raw"))).size).toBe(4 * MiB);
    expect((await compare(p("a.qcow2"), p("a.raw"))).identical).toBe(true);
  });

  test("ignoreBacking reads only the named file: a backing file is not opened, a raw file is not re-probed", async () => {
    await createImage(p("secret.raw"), { sizeBytes: 4 * MiB, format: "raw" });
    writePattern(p("secret.raw"), "0xee", "0", "1M");
    await createOverlay(p("top.qcow2"), { backingPath: p("secret.raw"), backingFormat: "raw" });
    writePattern(p("top.qcow2"), "0xab", "1M", "64k");
    await convert(p("top.qcow2"), p("copy.qcow2"), { srcFormat: "qcow2", ignoreBacking: true });
    expect(hasPattern(p("copy.qcow2"), "0xab", "1M", "64k")).toBe(true);
    expect(hasPattern(p("copy.qcow2"), "0x00", "0", "1M")).toBe(true);

    // The same header read as raw is copied byte for byte, not opened as a qcow2 with a backing file.
    await convert(p("top.qcow2"), p("bytes.qcow2"), { srcFormat: "raw", ignoreBacking: true });
    expect((await compare(p("bytes.qcow2"), p("top.qcow2"))).identical).toBe(false);
    const bytes = await fsp.readFile(p("top.qcow2"));
    await fsp.writeFile(p("header.raw"), Buffer.concat([bytes, Buffer.alloc((512 - (bytes.length % 512)) % 512)]));
    await convert(p("bytes.qcow2"), p("back.raw"), { dstFormat: "raw" });
    expect((await fsp.readFile(p("back.raw"))).equals(await fsp.readFile(p("header.raw")))).toBe(true);

    await expect(convert(p("top.qcow2"), p("x.qcow2"), { ignoreBacking: true })).rejects.toThrow(/needs srcFormat/);
  });

  test("an abort kills qemu-img and rejects with an AbortError", async () => {
    await createImage(p("big.qcow2"), { sizeBytes: 512 * MiB });
    writePattern(p("big.qcow2"), "0x5a", "0", "128M");
    const ac = new AbortController();
    const seen: number[] = [];
    const err = await rejection(
      convert(p("big.qcow2"), p("out.qcow2"), {
        signal: ac.signal,
        onProgress: (f) => {
          seen.push(f);
          ac.abort();
        },
      }),
    );
    expect(isAbortError(err)).toBe(true);
    expect(seen[seen.length - 1]).toBeLessThan(1);
  });

  test("an already aborted signal rejects without running qemu-img", async () => {
    await createImage(p("a.qcow2"), { sizeBytes: MiB });
    const err = await rejection(convert(p("a.qcow2"), p("b.qcow2"), { signal: AbortSignal.abort() }));
    expect(isAbortError(err)).toBe(true);
    await expect(fsp.stat(p("b.qcow2"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("rebase", () => {
  beforeEach(async () => {
    await createImage(p("base.qcow2"), { sizeBytes: 4 * MiB });
    writePattern(p("base.qcow2"), "0xcd", "64k", "64k");
    await createOverlay(p("top.qcow2"), { backingPath: p("base.qcow2") });
    writePattern(p("top.qcow2"), "0xab", "0", "64k");
  });

  test("unsafe re-parents onto an identical copy of the base and keeps the guest's view", async () => {
    await fsp.copyFile(p("base.qcow2"), p("base2.qcow2"));
    await rebase(p("top.qcow2"), { backingPath: p("base2.qcow2"), unsafe: true });
    expect((await imageInfo(p("top.qcow2"))).backingPath).toBe(p("base2.qcow2"));
    await fsp.rm(p("base.qcow2"));
    expect(hasPattern(p("top.qcow2"), "0xab", "0", "64k")).toBe(true);
    expect(hasPattern(p("top.qcow2"), "0xcd", "64k", "64k")).toBe(true);
  });

  test("safe rebase onto nothing copies the base's data into the image", async () => {
    await rebase(p("top.qcow2"), { backingPath: null, unsafe: false });
    expect((await imageInfo(p("top.qcow2"))).backingPath).toBeNull();
    await fsp.rm(p("base.qcow2"));
    expect(hasPattern(p("top.qcow2"), "0xab", "0", "64k")).toBe(true);
    expect(hasPattern(p("top.qcow2"), "0xcd", "64k", "64k")).toBe(true);
    expect((await check(p("top.qcow2"))).ok).toBe(true);
  });

  test("safe rebase past a middle layer keeps that layer's data", async () => {
    await createOverlay(p("mid.qcow2"), { backingPath: p("base.qcow2") });
    writePattern(p("mid.qcow2"), "0xef", "128k", "64k");
    await createOverlay(p("top3.qcow2"), { backingPath: p("mid.qcow2") });
    writePattern(p("top3.qcow2"), "0xab", "0", "64k");
    await rebase(p("top3.qcow2"), { backingPath: p("base.qcow2"), backingFormat: "qcow2", unsafe: false });
    const chain = await imageInfoChain(p("top3.qcow2"));
    expect(chain.map((l) => l.path)).toEqual([p("top3.qcow2"), p("base.qcow2")]);
    await fsp.rm(p("mid.qcow2"));
    expect(hasPattern(p("top3.qcow2"), "0xab", "0", "64k")).toBe(true);
    expect(hasPattern(p("top3.qcow2"), "0xcd", "64k", "64k")).toBe(true);
    expect(hasPattern(p("top3.qcow2"), "0xef", "128k", "64k")).toBe(true);
  });
});

describe("commit", () => {
  test("writes the overlay's data into its backing file", async () => {
    await createImage(p("base.qcow2"), { sizeBytes: 4 * MiB });
    await createOverlay(p("top.qcow2"), { backingPath: p("base.qcow2") });
    writePattern(p("top.qcow2"), "0xab", "0", "64k");
    expect(hasPattern(p("base.qcow2"), "0xab", "0", "64k")).toBe(false);
    await commit(p("top.qcow2"));
    expect(hasPattern(p("base.qcow2"), "0xab", "0", "64k")).toBe(true);
    expect(hasPattern(p("top.qcow2"), "0xab", "0", "64k")).toBe(true);
    expect((await check(p("base.qcow2"))).ok).toBe(true);
  });

  test("commits through a middle layer into a named base", async () => {
    await createImage(p("base.qcow2"), { sizeBytes: 4 * MiB });
    await createOverlay(p("mid.qcow2"), { backingPath: p("base.qcow2") });
    writePattern(p("mid.qcow2"), "0xef", "64k", "64k");
    await createOverlay(p("top.qcow2"), { backingPath: p("mid.qcow2") });
    writePattern(p("top.qcow2"), "0xab", "0", "64k");
    await commit(p("top.qcow2"), { base: p("base.qcow2"), drop: true });
    expect(hasPattern(p("base.qcow2"), "0xab", "0", "64k")).toBe(true);
    expect(hasPattern(p("base.qcow2"), "0xef", "64k", "64k")).toBe(true);
  });
});

describe("check", () => {
  test("a fresh image is clean", async () => {
    await createImage(p("a.qcow2"), { sizeBytes: 4 * MiB });
    writePattern(p("a.qcow2"), "0xab", "0", "64k");
    const r = await check(p("a.qcow2"));
    expect(r).toMatchObject({ ok: true, corruptions: 0, leaks: 0, checkErrors: 0 });
    expect(r.imageEndOffset).toBeGreaterThan(0);
    expect(r.raw["format"]).toBe("qcow2");
  });

  test("a corrupt image resolves with ok false instead of throwing", async () => {
    // With lazy refcounts and a crash (qemu-io's abort) the refcounts on disk stay stale, which
    // a read-only check reports as corruptions (exit status 2).
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", p("lazy.qcow2"), "16M"]);
    spawnSync("qemu-io", ["-c", "write -P 1 0 1M", "-c", "abort", p("lazy.qcow2")]);
    const r = await check(p("lazy.qcow2"));
    expect(r.ok).toBe(false);
    expect(r.corruptions).toBeGreaterThan(0);
    expect((await imageInfo(p("lazy.qcow2"))).dirty).toBe(true);
  });

  test("a format without checks throws QemuImgError", async () => {
    await createImage(p("a.raw"), { sizeBytes: MiB, format: "raw" });
    const err = await rejection(check(p("a.raw")));
    expect(err).toBeInstanceOf(QemuImgError);
    expect((err as QemuImgError).exitCode).toBe(63);
    expect((err as QemuImgError).message).toMatch(/does not support checks/);
  });
});

describe("compare", () => {
  test("identical, different and strict size mismatch", async () => {
    await createImage(p("a.qcow2"), { sizeBytes: 4 * MiB });
    await createImage(p("b.qcow2"), { sizeBytes: 4 * MiB });
    await createImage(p("c.qcow2"), { sizeBytes: 8 * MiB });
    expect(await compare(p("a.qcow2"), p("b.qcow2"))).toEqual({ identical: true, detail: "Images are identical." });
    expect((await compare(p("a.qcow2"), p("c.qcow2"))).identical).toBe(true);
    const strict = await compare(p("a.qcow2"), p("c.qcow2"), { strict: true });
    expect(strict.identical).toBe(false);
    expect(strict.detail).toMatch(/size mismatch/i);
    writePattern(p("b.qcow2"), "0xab", "128k", "64k");
    const diff = await compare(p("a.qcow2"), p("b.qcow2"));
    expect(diff.identical).toBe(false);
    expect(diff.detail).toMatch(/mismatch at offset 131072/);
  });

  test("a missing image throws QemuImgError", async () => {
    await createImage(p("a.qcow2"), { sizeBytes: MiB });
    const err = await rejection(compare(p("a.qcow2"), p("nope.qcow2")));
    expect(err).toBeInstanceOf(QemuImgError);
    expect((err as QemuImgError).exitCode).toBe(2);
  });
});

describe("probeImage", () => {
  test("accepts a standalone qcow2, vmdk (one file, or a descriptor with its extent beside it) and raw", async () => {
    await createImage(p("a.qcow2"), { sizeBytes: 4 * MiB });
    expect(await probeImage(p("a.qcow2"))).toEqual({ format: "qcow2", virtualSizeBytes: 4 * MiB });
    spawnSync("qemu-img", ["create", "-q", "-f", "vmdk", p("c.vmdk"), "2M"]);
    expect(await probeImage(p("c.vmdk"))).toMatchObject({ format: "vmdk", virtualSizeBytes: 2 * MiB });
    spawnSync("qemu-img", ["create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", p("flat.vmdk"), "2M"]);
    expect(await probeImage(p("flat.vmdk"))).toMatchObject({ format: "vmdk", virtualSizeBytes: 2 * MiB });
    await createImage(p("d.raw"), { sizeBytes: MiB, format: "raw" });
    expect(await probeImage(p("d.raw"))).toEqual({ format: "raw", virtualSizeBytes: MiB });
  });

  test("refuses an image that reads another file: backing file, data file, extent outside its folder or linked out of it", async () => {
    const q = (...names: string[]) => path.join(dir, ...names);
    await fsp.mkdir(q("secrets"));
    await createImage(q("secrets", "s.raw"), { sizeBytes: MiB, format: "raw" });
    await fsp.mkdir(q("src"));
    await createImage(q("src", "beside.raw"), { sizeBytes: MiB, format: "raw" });
    await createOverlay(q("src", "backed.qcow2"), { backingPath: q("src", "beside.raw"), backingFormat: "raw" });
    spawnSync("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${q("src", "data.raw")}`, q("src", "df.qcow2"), "1M"]);
    const descriptor = (extent: string) =>
      ["# Disk DescriptorFile", "version=1", "CID=fffffffe", "parentCID=ffffffff", 'createType="monolithicFlat"', `RW 2048 FLAT "${extent}" 0`, ""].join("\n");
    await fsp.writeFile(q("src", "out.vmdk"), descriptor(q("secrets", "s.raw")));
    await fsp.symlink(q("secrets", "s.raw"), q("src", "link.raw"));
    await fsp.writeFile(q("src", "linked.vmdk"), descriptor("link.raw"));
    const cases: Array<[string, RegExp]> = [
      ["backed.qcow2", /backing file .*beside\.raw/],
      ["df.qcow2", /data file .*data\.raw/],
      ["out.vmdk", /extent .*secrets\/s\.raw outside its folder/],
      ["linked.vmdk", /extent .*secrets\/s\.raw outside its folder/],
    ];
    for (const [name, why] of cases) {
      const err = await rejection(probeImage(q("src", name)));
      expect(err).toBeInstanceOf(NotADiskImageError);
      expect((err as Error).message).toContain(q("src", name));
      expect((err as Error).message).toMatch(why);
    }
  });

  test("refuses a text file, an empty file, an odd-sized file, a folder, a missing file and other formats", async () => {
    await fsp.writeFile(p("notes.txt"), "hello, this is not a disk\n");
    await fsp.writeFile(p("empty.img"), "");
    await fsp.writeFile(p("odd.img"), Buffer.alloc(1000));
    await fsp.mkdir(p("folder"));
    spawnSync("qemu-img", ["create", "-q", "-f", "parallels", p("e.hdd"), "2M"]);
    const cases: Array<[string, RegExp]> = [
      ["notes.txt", /not a multiple of 512/],
      ["empty.img", /empty/],
      ["odd.img", /1000 bytes/],
      ["folder", /not a regular file/],
      ["missing.img", /does not exist/],
      ["e.hdd", /"parallels" is not accepted/],
    ];
    for (const [name, why] of cases) {
      const err = await rejection(probeImage(p(name)));
      expect(err).toBeInstanceOf(NotADiskImageError);
      expect((err as NotADiskImageError).path).toBe(p(name));
      expect((err as Error).message).toContain(p(name));
      expect((err as Error).message).toMatch(why);
    }
  });
});
