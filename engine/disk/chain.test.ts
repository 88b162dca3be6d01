import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inspectChain, inspectChainCached, parseChainJson } from "./chain";
import { createImage, createOverlay, QemuImgError, rebase } from "./qemu-img";

/** What qemu-img 7.2 printed for `info --backing-chain --output=json -U sub/top.qcow2` run from /data. */
const RELATIVE_SAMPLE = [
  {
    "backing-filename-format": "qcow2",
    "virtual-size": 1048576,
    filename: "sub/top.qcow2",
    "cluster-size": 65536,
    format: "qcow2",
    "actual-size": 200704,
    "format-specific": { type: "qcow2", data: { compat: "1.1", "refcount-bits": 16, corrupt: false, "extended-l2": false } },
    "full-backing-filename": "sub/../mid.qcow2",
    "backing-filename": "../mid.qcow2",
    "dirty-flag": false,
  },
  {
    "backing-filename-format": "qcow2",
    "virtual-size": 1048576,
    filename: "sub/../mid.qcow2",
    "cluster-size": 65536,
    format: "qcow2",
    "actual-size": 200704,
    "full-backing-filename": "sub/../base.qcow2",
    "backing-filename": "base.qcow2",
    "dirty-flag": false,
  },
  {
    "virtual-size": 1048576,
    filename: "sub/../base.qcow2",
    format: "qcow2",
    "actual-size": 196608,
    "dirty-flag": false,
  },
];

describe("parseChainJson", () => {
  test("resolves relative backing filenames against each layer's own folder", () => {
    const layers = parseChainJson(RELATIVE_SAMPLE, "/data/sub/top.qcow2");
    expect(layers).toEqual([
      {
        path: "/data/sub/top.qcow2",
        format: "qcow2",
        virtualSizeBytes: 1048576,
        actualSizeBytes: 200704,
        backingPath: "/data/mid.qcow2",
        backingFormat: "qcow2",
        depth: 0,
      },
      {
        path: "/data/mid.qcow2",
        format: "qcow2",
        virtualSizeBytes: 1048576,
        actualSizeBytes: 200704,
        backingPath: "/data/base.qcow2",
        backingFormat: "qcow2",
        depth: 1,
      },
      {
        path: "/data/base.qcow2",
        format: "qcow2",
        virtualSizeBytes: 1048576,
        actualSizeBytes: 196608,
        backingPath: null,
        backingFormat: null,
        depth: 2,
      },
    ]);
  });

  test("keeps absolute backing filenames and a raw base", () => {
    const json = [
      {
        "backing-filename-format": "raw",
        "virtual-size": 2097152,
        filename: "/ds/clonefleet/vms/v1/disk.qcow2",
        format: "qcow2",
        "actual-size": 262144,
        "full-backing-filename": "/ds/clonefleet/templates/t1/disk.raw",
        "backing-filename": "/ds/clonefleet/templates/t1/disk.raw",
      },
      { "virtual-size": 2097152, filename: "/ds/clonefleet/templates/t1/disk.raw", format: "raw", "actual-size": 0 },
    ];
    const layers = parseChainJson(json, "/ds/clonefleet/vms/v1/disk.qcow2");
    expect(layers.map((l) => [l.path, l.format, l.backingPath, l.backingFormat, l.depth])).toEqual([
      ["/ds/clonefleet/vms/v1/disk.qcow2", "qcow2", "/ds/clonefleet/templates/t1/disk.raw", "raw", 0],
      ["/ds/clonefleet/templates/t1/disk.raw", "raw", null, null, 1],
    ]);
  });

  test("leaves a protocol backing filename as it is", () => {
    const json = [{ "virtual-size": 1024, format: "qcow2", "actual-size": 1, "backing-filename": "nbd://host:10809/export" }];
    expect(parseChainJson(json, "/x/a.qcow2")[0].backingPath).toBe("nbd://host:10809/export");
  });

  test("makes a relative top path absolute against the working directory", () => {
    const base = [{ "virtual-size": 512, format: "qcow2", "actual-size": 0 }];
    expect(parseChainJson(base, "a.qcow2")[0].path).toBe(path.resolve("a.qcow2"));
  });

  test("throws TypeError on malformed JSON", () => {
    expect(() => parseChainJson({}, "/a")).toThrow(TypeError);
    expect(() => parseChainJson([], "/a")).toThrow(TypeError);
    expect(() => parseChainJson([{ format: "qcow2" }], "/a")).toThrow(/virtual-size/);
    expect(() => parseChainJson([{ "virtual-size": 1 }], "/a")).toThrow(/format/);
    const broken = [
      { "virtual-size": 1, format: "qcow2" },
      { "virtual-size": 1, format: "qcow2" },
    ];
    expect(() => parseChainJson(broken, "/a")).toThrow(/no backing file but more layers follow/);
  });
});

describe("inspectChain", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-chain-"));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test("reads a 3-deep chain with relative backing names from disk", async () => {
    await fsp.mkdir(path.join(dir, "vm"));
    await createImage(path.join(dir, "base.qcow2"), { sizeBytes: 4 << 20 });
    await createOverlay(path.join(dir, "mid.qcow2"), { backingPath: "base.qcow2" });
    await createOverlay(path.join(dir, "vm", "top.qcow2"), { backingPath: "../mid.qcow2", sizeBytes: 4 << 20 });
    const layers = await inspectChain(path.join(dir, "vm", "top.qcow2"));
    expect(layers.map((l) => [l.depth, l.path, l.backingPath])).toEqual([
      [0, path.join(dir, "vm", "top.qcow2"), path.join(dir, "mid.qcow2")],
      [1, path.join(dir, "mid.qcow2"), path.join(dir, "base.qcow2")],
      [2, path.join(dir, "base.qcow2"), null],
    ]);
    expect(layers.every((l) => l.format === "qcow2" && l.virtualSizeBytes === 4 << 20 && l.actualSizeBytes > 0)).toBe(true);
  });

  test("a missing layer throws QemuImgError", async () => {
    await createOverlay(path.join(dir, "top.qcow2"), { backingPath: "gone.qcow2", sizeBytes: 1 << 20 });
    await expect(inspectChain(path.join(dir, "top.qcow2"))).rejects.toBeInstanceOf(QemuImgError);
  });
});

describe("inspectChainCached", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-chain-cache-"));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  // A cached answer runs no qemu-img, so an aborted signal has nothing to stop; a fresh inspection fails with it.
  const aborted = () => AbortSignal.abort(new Error("no qemu-img expected"));
  // Files count as settled once their stat is older than the cache's racy-write margin (2 s).
  const settle = () => new Promise((r) => setTimeout(r, 2100));

  async function makeChain(): Promise<string> {
    await createImage(path.join(dir, "base.qcow2"), { sizeBytes: 1 << 20 });
    await createImage(path.join(dir, "other.qcow2"), { sizeBytes: 1 << 20 });
    await createOverlay(path.join(dir, "top.qcow2"), { backingPath: "base.qcow2" });
    return path.join(dir, "top.qcow2");
  }

  test("answers a settled, unchanged chain again without qemu-img, and re-reads it once a layer changes", async () => {
    const top = await makeChain();
    await settle();
    const first = await inspectChainCached(top);
    expect(first.map((l) => l.path)).toEqual([top, path.join(dir, "base.qcow2")]);
    expect(await inspectChainCached(top, { signal: aborted() })).toEqual(first);

    // Drift made outside clonefleet: the top now names another backing file.
    await rebase(top, { backingPath: "other.qcow2", backingFormat: "qcow2", unsafe: true });
    await expect(inspectChainCached(top, { signal: aborted() })).rejects.toThrow();
    expect((await inspectChainCached(top)).map((l) => l.path)).toEqual([top, path.join(dir, "other.qcow2")]);
  }, 20_000);

  test("a layer removed after caching is read from disk: QemuImgError", async () => {
    const top = await makeChain();
    await settle();
    await inspectChainCached(top);
    await fsp.rm(path.join(dir, "base.qcow2"));
    await expect(inspectChainCached(top)).rejects.toBeInstanceOf(QemuImgError);
  }, 20_000);

  test("a layer replaced by another file is read from disk", async () => {
    const top = await makeChain();
    await settle();
    await inspectChainCached(top);
    // Same name and times, another file: only its inode tells.
    const st = await fsp.stat(path.join(dir, "base.qcow2"));
    await fsp.rename(path.join(dir, "other.qcow2"), path.join(dir, "base.qcow2"));
    await fsp.utimes(path.join(dir, "base.qcow2"), st.atime, st.mtime);
    await expect(inspectChainCached(top, { signal: aborted() })).rejects.toThrow();
  }, 20_000);

  test("a chain written moments ago is not cached", async () => {
    const top = await makeChain();
    await inspectChainCached(top);
    await expect(inspectChainCached(top, { signal: aborted() })).rejects.toThrow();
  });
});
