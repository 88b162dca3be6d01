import { spawnSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { copyLayerFile } from "./layer-copy";
import { check, compare, createImage, createOverlay, imageInfo, isAbortError, rebase } from "./qemu-img";

const MiB = 1024 * 1024;
let dir: string;
const p = (name: string) => path.join(dir, name);

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-layercopy-"));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

function write(image: string, pattern: string, offset: string, length: string): void {
  const r = spawnSync("qemu-io", ["-c", `write -P ${pattern} ${offset} ${length}`, image], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`qemu-io write to ${image} failed: ${r.stderr}`);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("copyLayerFile", () => {
  test("copies one layer of a chain as a delta; re-pointed at a copy of its parent it reads like the source", async () => {
    await createImage(p("base.qcow2"), { sizeBytes: 16 * MiB });
    write(p("base.qcow2"), "0x11", "0", "4M");
    await createOverlay(p("top.qcow2"), { backingPath: p("base.qcow2") });
    write(p("top.qcow2"), "0x22", "1M", "1M");
    await fsp.mkdir(p("t"));
    await copyLayerFile(p("base.qcow2"), p("t/base.qcow2"));

    const r = await copyLayerFile(p("top.qcow2"), p("t/top.qcow2"));
    expect(r.bytes).toBe((await fsp.stat(p("top.qcow2"))).size);
    expect((await fsp.readFile(p("t/top.qcow2"))).equals(await fsp.readFile(p("top.qcow2")))).toBe(true);
    // Only the top's own clusters came along: it is far smaller than the chain's data.
    expect(r.bytes).toBeLessThan(2 * MiB);
    await rebase(p("t/top.qcow2"), { backingPath: p("t/base.qcow2"), unsafe: true });
    expect((await imageInfo(p("t/top.qcow2"))).backingPath).toBe(p("t/base.qcow2"));
    expect((await check(p("t/top.qcow2"))).ok).toBe(true);
    expect((await compare(p("top.qcow2"), p("t/top.qcow2"))).identical).toBe(true);
  });

  test("keeps holes: a sparse file stays sparse", async () => {
    const fh = await fsp.open(p("sparse"), "w");
    await fh.write(Buffer.alloc(4096, 7), 0, 4096, 0);
    await fh.truncate(8 * MiB);
    await fh.close();
    await copyLayerFile(p("sparse"), p("copy"));
    const st = await fsp.stat(p("copy"));
    expect(st.size).toBe(8 * MiB);
    expect(st.blocks * 512).toBeLessThan(2 * MiB);
    expect((await fsp.readFile(p("copy"))).equals(await fsp.readFile(p("sparse")))).toBe(true);
  });

  test("honours a rate limit and reports progress in bytes", async () => {
    await fsp.writeFile(p("src"), Buffer.alloc(4 * MiB, 1));
    const seen: number[] = [];
    const started = Date.now();
    await copyLayerFile(p("src"), p("dst"), { rateLimitBytesPerSec: 8 * MiB, onProgress: (b) => seen.push(b) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(seen[seen.length - 1]).toBe(4 * MiB);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  test("refuses to overwrite, and removes its copy when aborted", async () => {
    await fsp.writeFile(p("src"), Buffer.alloc(4 * MiB, 1));
    await fsp.writeFile(p("taken"), "mine");
    const exists = (await rejection(copyLayerFile(p("src"), p("taken")))) as NodeJS.ErrnoException;
    expect(exists.code).toBe("EEXIST");
    expect(await fsp.readFile(p("taken"), "utf8")).toBe("mine");

    const ac = new AbortController();
    const pending = copyLayerFile(p("src"), p("dst"), { rateLimitBytesPerSec: 2 * MiB, signal: ac.signal });
    setTimeout(() => ac.abort(new Error("stop")), 100);
    expect(isAbortError(await rejection(pending))).toBe(true);
    await expect(fsp.access(p("dst"))).rejects.toThrow();
  });
});
