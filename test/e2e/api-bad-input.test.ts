import { promises as fs } from "node:fs";
import * as path from "node:path";
import axios from "axios";
import { apiError } from "../support/api-error";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

/** Everything a user can see of the inventory and the datastore folders, to prove nothing changed. */
async function snapshotState(t: TestEngine, dsPath: string) {
  const list = async (dir: string): Promise<string[]> => {
    const out: string[] = [];
    for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, e.name);
      out.push(full, ...(e.isDirectory() ? await list(full) : []));
    }
    return out.sort();
  };
  return {
    datastores: (await t.client.datastores.list()).map((d) => d.id).sort(),
    templates: (await t.client.templates.list()).map((x) => x.id).sort(),
    jobs: (await t.client.jobs.list()).length,
    files: await list(dsPath),
    catalog: await fs.readFile(path.join(dsPath, "clonefleet", "catalog.json"), "utf8"),
  };
}


describe("bad input: a clear 4xx naming the field, nothing changed", () => {
  let t: TestEngine;
  let dsPath: string;
  let dsId: string;
  let image: string;

  beforeAll(async () => {
    t = await startTestEngine();
    dsPath = path.join(t.dir, "ds1");
    dsId = (await t.client.datastores.create({ name: "ds1", path: dsPath })).id;
    image = await makeRawImage(path.join(t.dir, "src.raw"));
    const job = await t.client.templates.import({ name: "base", datastore_id: dsId, source_path: image });
    await t.client.waitJob(job.id);
  });
  afterAll(() => t.stop());

  const datastoreCases: [string, () => { name: string; path: string }, number, string, string][] = [
    ["a relative path", () => ({ name: "x1", path: "rel/dir" }), 400, "path", "absolute"],
    ["a path with ..", () => ({ name: "x2", path: `${dsPath}/../escape` }), 400, "path", ".."],
    ["a path inside another datastore", () => ({ name: "x3", path: path.join(dsPath, "inner") }), 409, "path", "inside datastore"],
    ["a path containing another datastore", () => ({ name: "x4", path: path.dirname(dsPath) }), 409, "path", "contains datastore"],
    ["a name with /", () => ({ name: "a/b", path: path.join(t.dir, "x5") }), 400, "name", "'/'"],
    ["an empty name", () => ({ name: "", path: path.join(t.dir, "x6") }), 400, "name", "empty"],
    ["an over-long name", () => ({ name: "n".repeat(64), path: path.join(t.dir, "x7") }), 400, "name", "at most 63"],
    ["a duplicate name", () => ({ name: "ds1", path: path.join(t.dir, "x8") }), 409, "name", "already exists"],
  ];
  it.each(datastoreCases)("datastore: %s", async (_label, body, status, field, words) => {
    const before = await snapshotState(t, dsPath);
    const pathExisted = await fs.access(body().path).then(() => true, () => false);
    const err = await apiError(t.client.datastores.create(body()));
    expect(err.status).toBe(status);
    expect(err.field).toBe(field);
    expect(err.message).toContain(words);
    expect(await snapshotState(t, dsPath)).toEqual(before);
    if (!pathExisted) await expect(fs.access(body().path)).rejects.toThrow();
  });

  it("template: a source that is not a disk image", async () => {
    const text = path.join(t.dir, "notes.txt");
    await fs.writeFile(text, "this is not a disk image\n");
    const before = await snapshotState(t, dsPath);
    const err = await apiError(t.client.templates.import({ name: "bad", datastore_id: dsId, source_path: text }));
    expect([err.status, err.field]).toEqual([400, "source_path"]);
    expect(err.message).toMatch(/not a disk image/i);
    expect(await snapshotState(t, dsPath)).toEqual(before);
  });

  it.each([
    ["memory below range", { memory_mb: 1 }, "memory_mb", "between"],
    ["memory above range", { memory_mb: 10_000_000 }, "memory_mb", "between"],
    ["vcpus zero", { vcpus: 0 }, "vcpus", "between"],
    ["vcpus above range", { vcpus: 1000 }, "vcpus", "between"],
    ["an unknown datastore", { datastore_id: "ds-0000000000000000" }, "datastore_id", "not found"],
    ["a missing source file", { source_path: "/nonexistent/disk.img" }, "source_path", "no such file"],
    ["a relative source", { source_path: "disk.img" }, "source_path", "absolute"],
    ["a name with ..", { name: "a..b" }, "name", ".."],
    ["a duplicate name", { name: "base" }, "name", "already exists"],
  ])("template: %s", async (_label, patch, field, words) => {
    const before = await snapshotState(t, dsPath);
    const err = await apiError(t.client.templates.import({ name: "fresh", datastore_id: dsId, source_path: image, ...patch }));
    expect(err.status).toBeGreaterThanOrEqual(400);
    expect(err.status).toBeLessThan(500);
    expect(err.field).toBe(field);
    expect(err.message).toContain(words);
    expect(await snapshotState(t, dsPath)).toEqual(before);
  });

  it("an unknown id is 404 naming the id", async () => {
    const err = await apiError(t.client.jobs.get("job-ffffffffffffffff"));
    expect([err.status, err.code]).toEqual([404, "CF_NOT_FOUND"]);
    expect(err.message).toContain("job-ffffffffffffffff");
    expect(await t.client.templates.get("tpl-ffffffffffffffff")).toBeNull();
    const del = await apiError(t.client.datastores.delete("ds-ffffffffffffffff"));
    expect(del.status).toBe(404);
  });

  it("a datastore that still holds a template cannot be removed", async () => {
    const err = await apiError(t.client.datastores.delete(dsId));
    expect(err.status).toBe(409);
    expect(err.message).toContain("base");
    expect((await t.client.datastores.get(dsId))?.id).toBe(dsId);
  });

  describe("raw HTTP", () => {
    const http = () => axios.create({ baseURL: t.engine.url, validateStatus: () => true, proxy: false });
    const auth = () => ({ authorization: `Bearer ${t.engine.token}` });

    it("a missing token is 401", async () => {
      const res = await http().get("/datastores");
      expect(res.status).toBe(401);
      expect(res.data.error.code).toBe("CF_UNAUTHORIZED");
    });
    it("a wrong token is 401 and changes nothing", async () => {
      const before = await snapshotState(t, dsPath);
      const res = await http().post("/datastores", { name: "sneaky", path: path.join(t.dir, "sneaky") }, { headers: { authorization: "Bearer wrong" } });
      expect(res.status).toBe(401);
      expect(await snapshotState(t, dsPath)).toEqual(before);
    });
    it("a body of the wrong shape names the field", async () => {
      const wrongType = await http().post("/templates", { name: "x", datastore_id: dsId, source_path: image, memory_mb: "256" }, { headers: auth() });
      expect(wrongType.status).toBe(400);
      expect(wrongType.data.error).toMatchObject({ code: "CF_INVALID_FIELD", field: "memory_mb" });
      const unknown = await http().post("/datastores", { name: "y", path: "/tmp/y", colour: "red" }, { headers: auth() });
      expect(unknown.status).toBe(400);
      expect(unknown.data.error).toMatchObject({ field: "colour" });
      expect(unknown.data.error.message).toContain("not a known field");
      const missing = await http().post("/datastores", { name: "y" }, { headers: auth() });
      expect(missing.data.error).toMatchObject({ code: "CF_INVALID_FIELD", field: "path" });
      const notObject = await http().post("/datastores", [1, 2], { headers: auth() });
      expect(notObject.data.error).toMatchObject({ code: "CF_INVALID_FIELD", message: "body: must be object" });
      const notJson = await http().post("/datastores", "{not json", {
        headers: { ...auth(), "content-type": "application/json" },
        transformRequest: [(d) => d],
      });
      expect(notJson.status).toBe(400);
      expect(notJson.data.error.code).toBe("CF_INVALID_BODY");
    });
    it("an oversized body is 413", async () => {
      const res = await http().post("/datastores", { name: "big", path: `/tmp/${"x".repeat(400 * 1024)}` }, { headers: auth() });
      expect(res.status).toBe(413);
      expect(res.data.error.code).toBe("CF_PAYLOAD_TOO_LARGE");
    });
    it("the OpenAPI document describes the routes", async () => {
      const res = await http().get("/openapi.json");
      expect(res.status).toBe(200);
      expect(Object.keys(res.data.paths)).toEqual(expect.arrayContaining(["/datastores", "/templates", "/jobs/{id}", "/jobs/{id}/wait", "/disks/chain"]));
    });
    it("a reused idempotency key with another request is 409", async () => {
      const headers = { ...auth(), "idempotency-key": "key-1" };
      const first = await http().post("/templates", { name: "idem", datastore_id: dsId, source_path: image }, { headers });
      expect(first.status).toBe(202);
      const again = await http().post("/templates", { name: "idem", datastore_id: dsId, source_path: image }, { headers });
      expect(again.status).toBe(200);
      expect(again.data.id).toBe(first.data.id);
      const other = await http().post("/templates", { name: "idem2", datastore_id: dsId, source_path: image }, { headers });
      expect(other.status).toBe(409);
      expect(other.data.error.field).toBe("idempotency_key");
      await t.client.waitJob(first.data.id);
    });
  });
});
