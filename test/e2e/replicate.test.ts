import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { readCatalog, writeCatalog } from "../../engine/disk";
import type { DatastoreWire, ReplicaWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { filesUnder, makeChain, sameContent, writePattern, type TestChain } from "../support/chains";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

const run = promisify(execFile);


describe("content-ID replication of disk chains (S7)", () => {
  let t: TestEngine;
  let src: DatastoreWire;
  let chain: TestChain;
  const ds: Record<string, DatastoreWire> = {};

  const addDatastore = async (name: string) => {
    ds[name] = await t.client.datastores.create({ name, path: path.join(t.dir, name) });
    return ds[name];
  };
  const replicate = async (body: { source_disk_path?: string; template_id?: string; target_datastore_id: string; verify?: boolean }) => {
    const job = await t.client.replicas.create(body);
    return (await t.client.waitJob(job.id)).result as ReplicaWire;
  };
  const fileSize = async (p: string) => (await fs.stat(p)).size;
  const positions = (list: { position: number }[]) => list.map((x) => x.position);

  beforeAll(async () => {
    t = await startTestEngine();
    src = await addDatastore("src");
    // A chain put into the datastore by hand, outside the engine's own folder.
    chain = await makeChain(path.join(src.path, "disks"));
    const reg = await t.client.disks.register(chain.top);
    expect(reg.registered).toEqual([chain.top, chain.middle, chain.base]);
  });
  afterAll(() => t.stop());

  it("registers a hand-made chain: each layer gets a content ID and records its parent's", async () => {
    const c = await t.client.disks.chain(chain.top);
    expect(c.layers.map((l) => l.path)).toEqual([chain.top, chain.middle, chain.base]);
    for (const l of c.layers) expect(l.content_id).toMatch(/^[0-9a-f]{32}$/);
    expect(c.layers[0].parent_content_id).toBe(c.layers[1].content_id);
    expect(c.layers[1].parent_content_id).toBe(c.layers[2].content_id);
    expect(c.layers[2].parent_content_id).toBeNull();
    // Registering again changes nothing.
    const again = await t.client.disks.register(chain.top);
    expect(again.registered).toEqual([]);
    expect(again.layers.map((l) => l.content_id)).toEqual(c.layers.map((l) => l.content_id));
  });

  it("to an empty target: copies all three layers, and the result compares equal", async () => {
    const target = await addDatastore("empty");
    const r = await replicate({ source_disk_path: chain.top, target_datastore_id: target.id, verify: true });
    expect(r).toMatchObject({ source_kind: "disk", source_disk_path: chain.top, layers_copied: 3, layers_reused: 0, state: "ready", drift: [] });
    expect(positions(r.last_run.copied)).toEqual([0, 1, 2]);
    expect(r.last_run.reused).toEqual([]);
    expect(r.last_run.verified).toBe(true);
    expect(r.copied_bytes).toBe((await fileSize(chain.top)) + (await fileSize(chain.middle)) + (await fileSize(chain.base)));
    for (const l of r.chain) expect(l.path.startsWith(path.join(target.path, "clonefleet", "replicas", r.id))).toBe(true);
    expect(await sameContent(chain.top, r.disk_path)).toBe(true);
    const { stdout } = await run("qemu-img", ["check", "--output=json", r.disk_path]);
    expect(JSON.parse(stdout)).toMatchObject({ "check-errors": 0 });
    // The catalog lists the copies under the source's content IDs.
    const srcChain = await t.client.disks.chain(chain.top);
    const catalog = await readCatalog(target.path);
    expect(catalog.map((e) => e.contentId).sort()).toEqual(srcChain.layers.map((l) => l.content_id).sort());
  });

  it("to a target holding the base: copies only middle and top and re-parents the middle onto the base", async () => {
    const target = await addDatastore("has-base");
    const baseReplica = await replicate({ source_disk_path: chain.base, target_datastore_id: target.id });
    expect(baseReplica.layers_copied).toBe(1);

    const r = await replicate({ source_disk_path: chain.top, target_datastore_id: target.id, verify: true });
    expect(positions(r.last_run.copied)).toEqual([0, 1]);
    expect(r.last_run.reused).toEqual([{ position: 2, target_path: baseReplica.disk_path, content_id: baseReplica.chain[0].content_id }]);
    expect(r.reused_layers).toEqual([{ path: baseReplica.disk_path, content_id: baseReplica.chain[0].content_id }]);
    expect([r.layers_copied, r.layers_reused]).toEqual([2, 1]);
    expect(r.copied_bytes).toBe((await fileSize(chain.top)) + (await fileSize(chain.middle)));
    expect(await sameContent(chain.top, r.disk_path)).toBe(true);
    const target_chain = await t.client.disks.chain(r.disk_path);
    expect(target_chain.layers.map((l) => l.path)).toEqual(r.chain.map((l) => l.path));
    expect(target_chain.layers[2].path).toBe(baseReplica.disk_path);
  });

  it("to a target holding base and middle: copies only the top", async () => {
    const target = await addDatastore("has-middle");
    const midReplica = await replicate({ source_disk_path: chain.middle, target_datastore_id: target.id });
    expect(midReplica.layers_copied).toBe(2);

    const r = await replicate({ source_disk_path: chain.top, target_datastore_id: target.id, verify: true });
    expect(positions(r.last_run.copied)).toEqual([0]);
    expect(r.last_run.reused.map((u) => u.target_path)).toEqual([midReplica.chain[0].path, midReplica.chain[1].path]);
    expect(r.copied_bytes).toBe(await fileSize(chain.top));
    expect(await sameContent(chain.top, r.disk_path)).toBe(true);
  });

  it("a target layer with the right name but another content ID is not reused", async () => {
    const target = await addDatastore("same-name");
    // The same bytes under the same file name, registered by hand: it gets its own content ID.
    const lookalike = path.join(target.path, "disks", "base.qcow2");
    await fs.mkdir(path.dirname(lookalike), { recursive: true });
    await fs.copyFile(chain.base, lookalike);
    const reg = await t.client.disks.register(lookalike);
    const srcChain = await t.client.disks.chain(chain.top);
    expect(reg.layers[0].content_id).not.toBe(srcChain.layers[2].content_id);

    const r = await replicate({ source_disk_path: chain.top, target_datastore_id: target.id });
    expect(positions(r.last_run.copied)).toEqual([0, 1, 2]);
    expect(r.chain.map((l) => l.path)).not.toContain(lookalike);
    expect(await sameContent(chain.top, r.disk_path)).toBe(true);
  });

  it("a target file listed under the right content ID but of another virtual size is refused", async () => {
    const target = await addDatastore("wrong-size");
    const impostor = path.join(target.path, "disks", "small.qcow2");
    await fs.mkdir(path.dirname(impostor), { recursive: true });
    await run("qemu-img", ["create", "-q", "-f", "qcow2", impostor, "16M"]);
    await t.client.disks.register(impostor);
    // Another tool wrote the catalog claiming the source base's content ID for it.
    const baseId = (await t.client.disks.chain(chain.top)).layers[2].content_id!;
    const entries = await readCatalog(target.path);
    await writeCatalog(target.path, entries.map((e) => (e.path === impostor ? { ...e, contentId: baseId } : e)));

    const r = await replicate({ source_disk_path: chain.top, target_datastore_id: target.id });
    expect(positions(r.last_run.copied)).toEqual([0, 1, 2]);
    expect(r.last_run.refused).toEqual([{ target_path: impostor, content_id: baseId, reason: expect.stringContaining("virtual size") }]);
    expect(await sameContent(chain.top, r.disk_path)).toBe(true);
  });

  it("a source parent modified after its child was made is detected and its old content not reused", async () => {
    const stale = await makeChain(path.join(src.path, "stale"), { prefix: "s-" });
    await t.client.disks.register(stale.top);
    const target = await addDatastore("stale-target");
    const oldBase = await replicate({ source_disk_path: stale.base, target_datastore_id: target.id });

    // Another engine writes into the base and gives it a new content ID, as engines do when a
    // layer is opened for writing; the middle still records the old one.
    await writePattern(stale.base, 0x44, "1M", "1M");
    const newBaseId = "f".repeat(32);
    const entries = await readCatalog(src.path);
    await writeCatalog(src.path, entries.map((e) => (e.path === stale.base ? { ...e, contentId: newBaseId } : e)));

    const r = await replicate({ source_disk_path: stale.top, target_datastore_id: target.id, verify: true });
    expect(r.last_run.stale_links).toEqual([
      { child_path: stale.middle, recorded_parent_content_id: oldBase.chain[0].content_id, parent_path: stale.base, parent_content_id: newBaseId },
    ]);
    expect(positions(r.last_run.copied)).toEqual([0, 1, 2]);
    expect(r.chain.map((l) => l.path)).not.toContain(oldBase.disk_path);
    expect(r.chain[2].content_id).toBe(newBaseId);
    expect(await sameContent(stale.top, r.disk_path)).toBe(true);
    expect(await sameContent(stale.top, oldBase.disk_path)).toBe(false);
  });

  it("reports drift when a copied layer is removed, and a repair copies only that layer", async () => {
    const target = ds["has-base"];
    const [r] = (await t.client.replicas.list(target.id)).filter((x) => x.source_disk_path === chain.top);
    const middle = r.chain[1];
    expect(middle.origin).toBe("copied");
    await fs.rm(middle.path);

    const drifted = await t.client.replicas.get(r.id);
    expect(drifted?.state).toBe("drifted");
    expect(drifted?.drift).toEqual(expect.arrayContaining([{ position: 1, path: middle.path, reason: "the file is gone" }]));

    const job = await t.client.replicas.repair(r.id, { verify: true });
    const repaired = (await t.client.waitJob(job.id)).result as ReplicaWire;
    expect(repaired.last_run.kind).toBe("repair");
    expect(positions(repaired.last_run.copied)).toEqual([1]);
    expect(positions(repaired.last_run.kept)).toEqual([0]);
    expect(positions(repaired.last_run.reused)).toEqual([2]);
    expect(repaired.last_run.bytes_copied).toBe(await fileSize(chain.middle));
    expect(repaired.copied_bytes).toBe(r.copied_bytes + (await fileSize(chain.middle)));
    expect(repaired.chain.map((l) => l.path)).toEqual(r.chain.map((l) => l.path));
    expect(repaired.state).toBe("ready");
    expect(await sameContent(chain.top, repaired.disk_path)).toBe(true);

    // A second repair finds nothing missing.
    const noop = (await t.client.waitJob((await t.client.replicas.repair(r.id)).id)).result as ReplicaWire;
    expect(noop.last_run.copied).toEqual([]);
    expect(noop.copied_bytes).toBe(repaired.copied_bytes);
  });

  it("when a reused layer vanishes, a repair copies it into the replica and re-points the layer above", async () => {
    const target = ds["has-base"];
    const replicas = await t.client.replicas.list(target.id);
    const top = replicas.find((x) => x.source_disk_path === chain.top)!;
    const baseReplica = replicas.find((x) => x.source_disk_path === chain.base)!;
    await fs.rm(baseReplica.disk_path);

    const drifted = await t.client.replicas.get(top.id);
    expect(drifted?.drift).toEqual([{ position: 2, path: baseReplica.disk_path, reason: "the file is gone" }]);
    expect((await t.client.replicas.get(baseReplica.id))?.state).toBe("drifted");

    const repaired = (await t.client.waitJob((await t.client.replicas.repair(top.id)).id)).result as ReplicaWire;
    expect(positions(repaired.last_run.copied)).toEqual([2]);
    expect(positions(repaired.last_run.kept)).toEqual([0, 1]);
    expect(repaired.last_run.refused.map((x) => x.target_path)).toEqual([baseReplica.disk_path]);
    expect(repaired.chain[2]).toMatchObject({ origin: "copied", content_id: baseReplica.chain[0].content_id });
    expect(repaired.chain[2].path.startsWith(path.join(target.path, "clonefleet", "replicas", top.id))).toBe(true);
    expect([repaired.layers_copied, repaired.layers_reused, repaired.state]).toEqual([3, 0, "ready"]);
    expect(await sameContent(chain.top, repaired.disk_path)).toBe(true);

    // The broken base replica is repaired too, then removed with its file.
    await t.client.waitJob((await t.client.replicas.repair(baseReplica.id)).id);
    expect((await t.client.replicas.get(baseReplica.id))?.state).toBe("ready");
    await t.client.replicas.delete(baseReplica.id);
    expect(await t.client.replicas.get(baseReplica.id)).toBeNull();
    await expect(fs.access(path.join(target.path, "clonefleet", "replicas", baseReplica.id))).rejects.toThrow();
  });

  it("a replica others rely on cannot be removed; removing one removes its copies and catalog entries only", async () => {
    const target = ds["has-middle"];
    const replicas = await t.client.replicas.list(target.id);
    const mid = replicas.find((x) => x.source_disk_path === chain.middle)!;
    const top = replicas.find((x) => x.source_disk_path === chain.top)!;
    const err = await apiError(t.client.replicas.delete(mid.id));
    expect([err.status, err.field]).toEqual([409, "id"]);
    expect(err.message).toContain(top.disk_path);

    await t.client.replicas.delete(top.id);
    await expect(fs.access(top.disk_path)).rejects.toThrow();
    const catalogPaths = (await readCatalog(target.path)).map((e) => e.path).sort();
    expect(catalogPaths).toEqual(mid.chain.map((l) => l.path).sort());
    expect((await t.client.replicas.get(mid.id))?.state).toBe("ready");
    const err404 = await apiError(t.client.replicas.delete(top.id));
    expect(err404.status).toBe(404);
  });

  it("replicates a template's disk", async () => {
    const image = await makeRawImage(path.join(t.dir, "tpl.raw"));
    const job = await t.client.templates.import({ name: "tpl", datastore_id: src.id, source_path: image });
    const tpl = (await t.client.waitJob(job.id)).result as { id: string; disk_path: string; content_id: string };
    const r = await replicate({ template_id: tpl.id, target_datastore_id: ds.empty.id, verify: true });
    expect(r).toMatchObject({ source_kind: "template", template_id: tpl.id, source_disk_path: tpl.disk_path, layers_copied: 1 });
    expect(r.chain[0].content_id).toBe(tpl.content_id);
    expect(await sameContent(tpl.disk_path, r.disk_path)).toBe(true);
    // The template cannot go while nothing backs onto it; the replica is independent of it.
    expect(r.last_run.verified).toBe(true);
  });

  it("a catalog rescan keeps what it can vouch for, drops what is gone, and invents nothing", async () => {
    const target = ds["same-name"];
    const lookalike = path.join(target.path, "disks", "base.qcow2");
    const kept = path.join(target.path, "disks", "kept.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", kept, "8M"]);
    await t.client.disks.register(kept);
    const keptId = (await readCatalog(target.path)).find((e) => e.path === kept)!.contentId;
    const lookalikeId = (await readCatalog(target.path)).find((e) => e.path === lookalike)!.contentId;
    const changed = path.join(target.path, "disks", "changed.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", changed, "8M"]);
    await t.client.disks.register(changed);
    const changedId = (await readCatalog(target.path)).find((e) => e.path === changed)!.contentId;
    const stranger = path.join(target.path, "disks", "stranger.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", stranger, "8M"]);
    await fs.writeFile(path.join(target.path, "notes.txt"), "not a disk\n");

    await fs.rm(lookalike);
    await run("qemu-img", ["resize", "-q", changed, "12M"]);
    const [replica] = await t.client.replicas.list(target.id);

    const report = await t.client.catalogs.rescan(target.id);
    expect(report.dropped).toEqual(
      expect.arrayContaining([
        { path: lookalike, content_id: lookalikeId, reason: "its file is gone or unreadable" },
        { path: changed, content_id: changedId, reason: expect.stringContaining("virtual size is now 12582912") },
      ]),
    );
    expect(report.dropped).toHaveLength(2);
    expect(report.unknown).toEqual([
      { path: changed, format: "qcow2", virtual_size_bytes: 12 * 1024 * 1024 },
      { path: stranger, format: "qcow2", virtual_size_bytes: 8 * 1024 * 1024 },
    ]);
    const keptByPath = new Map(report.kept.map((k) => [k.path, k]));
    expect(keptByPath.get(kept)).toEqual({ path: kept, content_id: keptId, by: "catalog" });
    for (const l of replica.chain) expect(keptByPath.get(l.path)).toMatchObject({ content_id: l.content_id, by: "inventory" });
    expect(report.kept).toHaveLength(replica.chain.length + 1);

    const catalog = await readCatalog(target.path);
    expect(catalog.map((e) => [e.path, e.contentId]).sort()).toEqual(report.kept.map((k) => [k.path, k.content_id]).sort());
    // Files nobody vouches for got no content ID.
    expect((await t.client.disks.chain(stranger)).layers[0].content_id).toBeNull();

    // A catalog lost entirely is rebuilt from the records; what only it vouched for is now unknown.
    await fs.writeFile(path.join(target.path, "clonefleet", "catalog.json"), "{ garbage");
    const rebuilt = await t.client.catalogs.rescan(target.id);
    expect(rebuilt.previous_catalog_problem).toMatch(/not valid JSON/);
    expect(rebuilt.kept.every((k) => k.by === "inventory")).toBe(true);
    expect(rebuilt.unknown.map((u) => u.path)).toEqual([changed, kept, stranger]);
    expect((await t.client.replicas.get(replica.id))?.state).toBe("ready");

    const err = await apiError(t.client.catalogs.rescan("ds-ffffffffffffffff"));
    expect([err.status, err.code]).toEqual([404, "CF_NOT_FOUND"]);
  });

  describe("bad input: a 4xx naming the field, nothing changed", () => {
    const snapshot = async () => {
      const files: string[] = [];
      const catalogs: string[] = [];
      for (const d of Object.values(ds)) {
        files.push(...await filesUnder(d.path));
        catalogs.push(await fs.readFile(path.join(d.path, "clonefleet", "catalog.json"), "utf8"));
      }
      return {
        files,
        catalogs,
        // Read from the inventory directly: listing through the API would measure every replica.
        replicas: (await t.engine.store.replicas.list()).map((r) => r.id).sort(),
        jobs: (await t.client.jobs.list()).length,
      };
    };

    it.each([
      ["the datastore the source is on", () => ({ source_disk_path: chain.top, target_datastore_id: ds.src.id }), 400, "target_datastore_id", "already holds the source"],
      ["an unknown datastore", () => ({ source_disk_path: chain.top, target_datastore_id: "ds-ffffffffffffffff" }), 404, "target_datastore_id", "not found"],
      ["a path outside any datastore", () => ({ source_disk_path: path.join(t.dir, "elsewhere.qcow2"), target_datastore_id: ds.empty.id }), 400, "source_disk_path", "not inside any datastore"],
      ["a relative path", () => ({ source_disk_path: "disks/top.qcow2", target_datastore_id: ds.empty.id }), 400, "source_disk_path", "absolute"],
      ["a missing file", () => ({ source_disk_path: path.join(ds.src.path, "nope.qcow2"), target_datastore_id: ds.empty.id }), 400, "source_disk_path", "no such file"],
      ["no source", () => ({ target_datastore_id: ds.empty.id }), 400, "source_disk_path", "required"],
      ["two sources", () => ({ source_disk_path: chain.top, template_id: "tpl-x", target_datastore_id: ds.empty.id }), 400, "source_disk_path", "not both"],
      ["an unknown template", () => ({ template_id: "tpl-ffffffffffffffff", target_datastore_id: ds.empty.id }), 404, "template_id", "not found"],
    ])("replica: %s", async (_label, body, status, field, words) => {
      const before = await snapshot();
      const err = await apiError(t.client.replicas.create(body()));
      expect([err.status, err.field]).toEqual([status, field]);
      expect(err.message).toContain(words);
      expect(await snapshot()).toEqual(before);
    });

    it("replica: a chain without content IDs is refused and told how to register it", async () => {
      const loose = await makeChain(path.join(ds.src.path, "loose"), { prefix: "l-" });
      const before = await snapshot();
      const err = await apiError(t.client.replicas.create({ source_disk_path: loose.top, target_datastore_id: ds.empty.id }));
      expect([err.status, err.field]).toEqual([400, "source_disk_path"]);
      expect(err.message).toContain("no content ID");
      expect(err.message).toContain("/disks/register");
      expect(await snapshot()).toEqual(before);
    });

    it("register: a path outside any datastore, or a file in the engine's folder", async () => {
      const outside = path.join(t.dir, "outside.qcow2");
      await run("qemu-img", ["create", "-q", "-f", "qcow2", outside, "1M"]);
      const before = await snapshot();
      const a = await apiError(t.client.disks.register(outside));
      expect([a.status, a.field]).toEqual([400, "path"]);
      const inEngine = path.join(ds.src.path, "clonefleet", "tmp", "x.qcow2");
      const b = await apiError(t.client.disks.register(inEngine));
      expect([b.status, b.field]).toEqual([400, "path"]);
      expect(await snapshot()).toEqual(before);
    });

    it("repair and show: an unknown replica is 404", async () => {
      expect(await t.client.replicas.get("rep-ffffffffffffffff")).toBeNull();
      const err = await apiError(t.client.replicas.repair("rep-ffffffffffffffff"));
      expect([err.status, err.code]).toEqual([404, "CF_NOT_FOUND"]);
    });
  });
});
