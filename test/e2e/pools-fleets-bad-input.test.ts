import { promises as fs } from "node:fs";
import * as path from "node:path";
import axios from "axios";
import type { TemplateWire } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import { apiError, filesUnder, importTemplate, makeDataImage, waitPoolsSettled } from "../support/clones";

/** Pools, fleets, VMs, jobs and files as users can see them, to prove a refused request changed nothing. */
async function snapshot(t: TestEngine, roots: string[]) {
  await waitPoolsSettled(t.client);
  return {
    pools: (await t.client.pools.list()).map((p) => [p.id, p.size, p.ready]),
    fleets: (await t.client.fleets.list()).map((f) => [f.id, f.size, f.datastore_ids, f.clone_mode, f.vms.map((v) => v.id)]),
    vms: (await t.client.vms.list()).map((v) => v.id),
    jobs: (await t.client.jobs.list({ limit: 1000 })).length,
    files: (await Promise.all(roots.map((r) => filesUnder(r)))).flat(),
    catalogs: await Promise.all(roots.map((r) => fs.readFile(path.join(r, "clonefleet", "catalog.json"), "utf8"))),
  };
}

describe("pools, fleets and VMs: bad input gets a 4xx naming the field and changes nothing", () => {
  let t: TestEngine;
  let dsA: string;
  let dsB: string;
  let roots: string[];
  let tpl: TemplateWire;
  let poolId: string;
  let fleetId: string;

  beforeAll(async () => {
    t = await startTestEngine();
    roots = [path.join(t.dir, "ds-a"), path.join(t.dir, "ds-b")];
    dsA = (await t.client.datastores.create({ name: "a", path: roots[0] })).id;
    dsB = (await t.client.datastores.create({ name: "b", path: roots[1] })).id;
    tpl = await importTemplate(t.client, "base", dsA, await makeDataImage(path.join(t.dir, "src.raw"), 16, 1));
    poolId = (await t.client.pools.create({ template_id: tpl.id, datastore_id: dsB, size: 1 })).id;
    await t.client.waitPoolReady(poolId);
    const job = await t.client.fleets.create({ template_id: tpl.id, size: 1, datastore_ids: [dsA], name_prefix: "web" });
    fleetId = job.target_id!;
    await t.client.waitJob(job.id);
    await t.client.waitPoolReady(poolId);
  });
  afterAll(() => t.stop());

  const expectRefused = async (call: () => Promise<unknown>, status: number, field: string, words?: string) => {
    const before = await snapshot(t, roots);
    const err = await apiError(call());
    expect([err.status, err.field]).toEqual([status, field]);
    if (words) expect(err.message).toContain(words);
    expect(await snapshot(t, roots)).toEqual(before);
  };

  it.each([
    ["a negative size", () => ({ size: -1 }), 400, "size", "between 0 and 1024"],
    ["an absurd size", () => ({ size: 1_000_000 }), 400, "size", "between 0 and 1024"],
    ["an unknown template", () => ({ template_id: "tpl-0000000000000000" }), 404, "template_id", "not found"],
    ["an unknown datastore", () => ({ datastore_id: "ds-0000000000000000" }), 404, "datastore_id", "not found"],
    ["a datastore on another host", () => ({ host_id: "other-host" }), 400, "host_id", "only host"],
    ["a second pool of the template on a datastore", () => ({ datastore_id: dsB }), 409, "datastore_id", "already has a pool"],
  ])("pool: %s", async (_label, patch, status, field, words) => {
    await expectRefused(() => t.client.pools.create({ template_id: tpl.id, datastore_id: dsA, size: 2, ...patch() }), status, field, words);
  });

  it("pool: a resize out of range or of an unknown pool", async () => {
    await expectRefused(() => t.client.pools.resize(poolId, -3), 400, "size", "between");
    await expectRefused(() => t.client.pools.resize(poolId, 4096), 400, "size", "between");
    await expectRefused(() => t.client.pools.resize("pool-0000000000000000", 1), 404, "id");
  });

  it.each([
    ["a negative size", () => ({ size: -1 }), 400, "size", "between 0 and 1024"],
    ["an absurd size", () => ({ size: 99_999 }), 400, "size", "between 0 and 1024"],
    ["an unknown template", () => ({ template_id: "tpl-0000000000000000" }), 404, "template_id", "not found"],
    ["no datastores", () => ({ datastore_ids: [] }), 400, "datastore_ids", "at least one"],
    ["an unknown datastore", () => ({ datastore_ids: [dsA, "ds-0000000000000000"] }), 400, "datastore_ids[1]", "unknown datastore"],
    ["a datastore listed twice", () => ({ datastore_ids: [dsB, dsA, dsB] }), 400, "datastore_ids[2]", "listed twice"],
    ["an unknown host", () => ({ host_id: "host-2" }), 404, "host_id", "not found"],
    ["an unknown host among host_ids", () => ({ host_ids: ["local", "host-9"] }), 404, "host_ids[1]", "not found"],
    ["a host listed twice", () => ({ host_ids: ["local", "local"] }), 400, "host_ids[1]", "listed twice"],
    ["an empty host list", () => ({ host_ids: [] }), 400, "host_ids", "at least one"],
    ["both host_id and host_ids", () => ({ host_id: "local", host_ids: ["local"] }), 400, "host_id", "not both"],
    ["linked clones on another datastore than the template's", () => ({ clone_mode: "linked", datastore_ids: [dsA, dsB] }), 409, "datastore_ids[1]", "template's datastore"],
    ["a name prefix with /", () => ({ name_prefix: "a/b" }), 400, "name_prefix", "'/'"],
    ["a name prefix with ..", () => ({ name_prefix: "a..b" }), 400, "name_prefix", ".."],
    ["a name prefix too long for member numbers", () => ({ name_prefix: "p".repeat(60) }), 400, "name_prefix", "at most 58"],
    ["a taken name prefix", () => ({ name_prefix: "web" }), 409, "name_prefix", "already exists"],
  ])("fleet: %s", async (_label, patch, status, field, words) => {
    await expectRefused(
      () => t.client.fleets.create({ template_id: tpl.id, size: 2, datastore_ids: [dsA, dsB], name_prefix: "new", ...patch() }),
      status,
      field,
      words,
    );
  });

  it("fleet: a redeclaration that changes what cannot change, or of an unknown fleet", async () => {
    const base = { template_id: tpl.id, size: 1, datastore_ids: [dsA], name_prefix: "web" };
    await expectRefused(() => t.client.fleets.update(fleetId, { ...base, name_prefix: "other" }), 409, "name_prefix", "cannot change");
    await expectRefused(() => t.client.fleets.update(fleetId, { ...base, size: -2 }), 400, "size");
    await expectRefused(() => t.client.fleets.update(fleetId, { ...base, datastore_ids: ["ds-0000000000000000"] }), 400, "datastore_ids[0]");
    await expectRefused(() => t.client.fleets.update("fleet-0000000000000000", base), 404, "id");
  });

  it.each([
    ["a name with /", () => ({ name: "a/b" }), 400, "name", "'/'"],
    ["an unknown template", () => ({ template_id: "tpl-0000000000000000" }), 404, "template_id", "not found"],
    ["an unknown datastore", () => ({ datastore_id: "ds-0000000000000000" }), 404, "datastore_id", "not found"],
    ["linked on another datastore than the template's", () => ({ clone_mode: "linked", datastore_id: dsB }), 409, "datastore_id", "template's datastore"],
    ["an unknown host", () => ({ host_id: "far-away" }), 404, "host_id", "not found"],
    ["a taken name", () => ({ name: "web-1" }), 409, "name", "already exists"],
  ])("vm: %s", async (_label, patch, status, field, words) => {
    await expectRefused(() => t.client.vms.create({ name: "solo", template_id: tpl.id, ...patch() }), status, field, words);
  });

  it("schema failures name the field", async () => {
    const http = axios.create({ baseURL: t.engine.url, validateStatus: () => true, proxy: false, headers: { authorization: `Bearer ${t.engine.token}` } });
    const cases: [string, string, unknown, string][] = [
      ["POST", "/pools", { template_id: tpl.id, datastore_id: dsA, size: "2" }, "size"],
      ["POST", "/pools", { template_id: tpl.id, datastore_id: dsA, size: 2.5 }, "size"],
      ["POST", "/fleets", { template_id: tpl.id, size: 1, datastore_ids: [dsA], clone_mode: "magic" }, "clone_mode"],
      ["POST", "/fleets", { template_id: tpl.id, size: 1, datastore_ids: [dsA], power_state: "suspended" }, "power_state"],
      ["POST", "/fleets", { template_id: tpl.id, size: 1, datastore_ids: [dsA, 7] }, "datastore_ids[1]"],
      ["POST", "/fleets", { template_id: tpl.id, datastore_ids: [dsA] }, "size"],
      ["POST", "/vms", { name: "x", template_id: tpl.id, clone_mode: "fast" }, "clone_mode"],
      ["POST", "/vms", { name: "x", template_id: tpl.id, colour: "red" }, "colour"],
    ];
    for (const [method, url, data, field] of cases) {
      const before = await snapshot(t, roots);
      const res = await http.request({ method, url, data });
      expect([res.status, res.data.error?.code, res.data.error?.field]).toEqual([400, "CF_INVALID_FIELD", field]);
      expect(await snapshot(t, roots)).toEqual(before);
    }
  });

  it("in-use objects are refused with 409 and stay", async () => {
    await expectRefused(() => t.client.templates.delete(tpl.id), 409, "id", "is used by");
    await expectRefused(() => t.client.datastores.delete(dsB), 409, "id", "is used by");
    const member = (await t.client.fleets.get(fleetId))!.vms[0];
    await expectRefused(() => t.client.vms.delete(member.id), 409, "id", "member of fleet");
  });
});
