import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CatalogError, catalogPath, readCatalog, writeCatalog, type CatalogEntry } from "./catalog";
import { newContentId } from "./content-id";

const GiB = 1024 * 1024 * 1024;
let root: string;

beforeEach(async () => {
  root = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-catalog-"));
});

afterEach(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

function entries(): CatalogEntry[] {
  const base = newContentId();
  const mid = newContentId();
  return [
    {
      path: path.join(root, "clonefleet/vms/v1/disk.qcow2"),
      contentId: newContentId(),
      parentContentId: mid,
      backingPath: path.join(root, "clonefleet/templates/t1/mid.qcow2"),
      virtualSizeBytes: 2 * GiB,
      format: "qcow2",
    },
    {
      path: path.join(root, "clonefleet/templates/t1/disk.qcow2"),
      contentId: base,
      parentContentId: null,
      backingPath: null,
      virtualSizeBytes: 2 * GiB,
      format: "qcow2",
    },
    {
      path: path.join(root, "clonefleet/templates/t1/mid.qcow2"),
      contentId: mid,
      parentContentId: base,
      backingPath: "/elsewhere/images/base.qcow2",
      virtualSizeBytes: 2 * GiB,
      format: "qcow2",
    },
  ];
}

const byPath = (a: CatalogEntry, b: CatalogEntry) => (a.path < b.path ? -1 : 1);

test("catalogPath is inside the engine folder", () => {
  expect(catalogPath("/ds")).toBe("/ds/clonefleet/catalog.json");
});

test("a datastore without a catalog has no entries", async () => {
  expect(await readCatalog(root)).toEqual([]);
});

test("round trip with relative paths inside the root, sorted by path", async () => {
  const written = entries();
  await writeCatalog(root, written);
  expect(await readCatalog(root)).toEqual([...written].sort(byPath));

  const doc = JSON.parse(await fsp.readFile(catalogPath(root), "utf8"));
  expect(doc.format).toBe("clonefleet-catalog");
  expect(doc.version).toBe(1);
  expect(new Date(doc.updated_at).toISOString()).toBe(doc.updated_at);
  expect(doc.layers.map((l: { path: string }) => l.path)).toEqual([
    "clonefleet/templates/t1/disk.qcow2",
    "clonefleet/templates/t1/mid.qcow2",
    "clonefleet/vms/v1/disk.qcow2",
  ]);
  expect(doc.layers[2]).toEqual({
    path: "clonefleet/vms/v1/disk.qcow2",
    content_id: written[0].contentId,
    parent_content_id: written[0].parentContentId,
    backing_path: "clonefleet/templates/t1/mid.qcow2",
    virtual_size_bytes: 2 * GiB,
    format: "qcow2",
  });
  expect(doc.layers[1].backing_path).toBe("/elsewhere/images/base.qcow2");
  expect(doc.layers[0].backing_path).toBeNull();
});

test("the same entries in another order give the same file apart from the time stamp", async () => {
  const e = entries();
  await writeCatalog(root, e);
  const first = JSON.parse(await fsp.readFile(catalogPath(root), "utf8"));
  await writeCatalog(root, [...e].reverse());
  const second = JSON.parse(await fsp.readFile(catalogPath(root), "utf8"));
  expect(second.layers).toEqual(first.layers);
});

test("a catalog read from a datastore mounted elsewhere resolves against the new root", async () => {
  await writeCatalog(root, entries());
  const moved = `${root}-moved`;
  await fsp.rename(root, moved);
  try {
    const read = await readCatalog(moved);
    expect(read.every((e) => e.path.startsWith(`${moved}/`))).toBe(true);
    expect(read.find((e) => e.path.endsWith("vms/v1/disk.qcow2"))?.backingPath).toBe(path.join(moved, "clonefleet/templates/t1/mid.qcow2"));
  } finally {
    await fsp.rename(moved, root);
  }
});

test("writes atomically: the old file is replaced, not rewritten, and no temp file stays", async () => {
  await writeCatalog(root, entries().slice(0, 1));
  const before = await fsp.readFile(catalogPath(root), "utf8");
  const snapshot = path.join(root, "old-link.json");
  await fsp.link(catalogPath(root), snapshot);
  await writeCatalog(root, entries());
  // The hard link still shows the old content: the new catalog arrived by rename.
  expect(await fsp.readFile(snapshot, "utf8")).toBe(before);
  expect((await readCatalog(root)).length).toBe(3);
  expect(await fsp.readdir(path.dirname(catalogPath(root)))).toEqual(["catalog.json"]);
});

test("an invalid entry throws CatalogError and leaves the old catalog as it was", async () => {
  await writeCatalog(root, entries());
  const before = await fsp.readFile(catalogPath(root), "utf8");
  const outside = { ...entries()[1], path: "/etc/disk.qcow2" };
  await expect(writeCatalog(root, [outside])).rejects.toThrow(CatalogError);
  const badId = { ...entries()[1], contentId: "XYZ" };
  await expect(writeCatalog(root, [badId])).rejects.toThrow(/invalid content ID/);
  const dup = entries()[1];
  await expect(writeCatalog(root, [dup, { ...dup }])).rejects.toThrow(/listed twice/);
  expect(await fsp.readFile(catalogPath(root), "utf8")).toBe(before);
  expect(await fsp.readdir(path.dirname(catalogPath(root)))).toEqual(["catalog.json"]);
});

describe("malformed catalogs throw CatalogError naming the file", () => {
  const layer = () => ({
    path: "clonefleet/a.qcow2",
    content_id: newContentId(),
    parent_content_id: null,
    backing_path: null,
    virtual_size_bytes: 1024,
    format: "qcow2",
  });
  const cases: Array<[string, string, RegExp]> = [
    ["truncated JSON", '{"format": "clonefleet-catalog", "vers', /not valid JSON/],
    ["another document", JSON.stringify({ format: "something-else", version: 1, layers: [] }), /not a clonefleet-catalog/],
    ["a newer version", JSON.stringify({ format: "clonefleet-catalog", version: 2, layers: [] }), /unsupported version 2/],
    ["layers not a list", JSON.stringify({ format: "clonefleet-catalog", version: 1, layers: {} }), /layers must be an array/],
    ["a path escaping the root", JSON.stringify({ format: "clonefleet-catalog", version: 1, layers: [{ ...layer(), path: "../x.qcow2" }] }), /leaves the datastore/],
    ["an absolute path", JSON.stringify({ format: "clonefleet-catalog", version: 1, layers: [{ ...layer(), path: "/x.qcow2" }] }), /relative path/],
    ["a bad content ID", JSON.stringify({ format: "clonefleet-catalog", version: 1, layers: [{ ...layer(), content_id: "abc" }] }), /content_id/],
    ["a bad size", JSON.stringify({ format: "clonefleet-catalog", version: 1, layers: [{ ...layer(), virtual_size_bytes: "1" }] }), /virtual_size_bytes/],
  ];
  test.each(cases)("%s", async (_name, text, why) => {
    await fsp.mkdir(path.join(root, "clonefleet"), { recursive: true });
    await fsp.writeFile(catalogPath(root), text);
    const err = await readCatalog(root).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).file).toBe(catalogPath(root));
    expect((err as Error).message).toContain(catalogPath(root));
    expect((err as Error).message).toMatch(why);
  });
});

test("writeCatalog also takes paths relative to the root", async () => {
  const e = entries().map((x) => ({
    ...x,
    path: path.relative(root, x.path),
    backingPath: x.backingPath && x.backingPath.startsWith(root) ? path.relative(root, x.backingPath) : x.backingPath,
  }));
  await writeCatalog(root, e);
  expect(await readCatalog(root)).toEqual([...entries().map((x, i) => ({ ...x, contentId: e[i].contentId, parentContentId: e[i].parentContentId }))].sort(byPath));
});
