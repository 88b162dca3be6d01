/**
 * The DiskPool, Vm and Fleet dynamic providers through the Pulumi SDK's own dynamic-provider
 * gRPC server, called as the Pulumi engine calls them, against a real engine with real qcow2
 * copies: check, create (a pool waits until full), diff, in-place updates (pool size, fleet
 * growth and shrinking), import, drift seen by a refresh and repaired by the next update (a
 * pool below its size, a fleet member's disk gone, a VM deleted), replacement, delete.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { diskPoolProvider, fleetProvider, vmProvider } from "../../pulumi";
import { importTemplate, waitPoolsSettled } from "../support/clones";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { DynamicProviderProcess, makeProjectDirs, ProviderCallError, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "./support/provider-host";

jest.setTimeout(120_000);

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

type Props = Record<string, unknown>;
interface Created {
  id: string;
  inputs: Props;
  outs: Props;
}
interface Member {
  id: string;
  name: string;
  datastoreId: string;
  diskPath: string;
  provisionedBy: string;
}

let engine: TestEngine;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
const text = { pool: "", vm: "", fleet: "" };
const ids = { a: "", b: "", tpl: "" };
let tplDisk = "";

function conn(): { endpoint: string; token: string } {
  return { endpoint: engine.engine.url, token: engine.engine.token! };
}

/** Check then Create, as `pulumi up` does for a new resource. */
async function checkAndCreate(urn: string, news: Props): Promise<Created> {
  const checked = await server.check(urn, {}, news);
  expect(checked.failures).toEqual([]);
  const created = await server.create(urn, checked.inputs);
  return { id: created.id, inputs: checked.inputs, outs: created.properties };
}

/** Refresh, check, diff and update, as `pulumi up --refresh` does for an existing resource; answers the diff and the new state. */
async function refreshAndUp(urn: string, r: Created, news: Props): Promise<{ diff: Props; refreshed: Props; next: Created }> {
  const read = await server.read(urn, r.id, r.outs, r.inputs);
  const checked = await server.check(urn, r.inputs, news);
  expect(checked.failures).toEqual([]);
  const diff = await server.diff(urn, r.id, read.properties, checked.inputs);
  const outs = diff.changes === "some" ? await server.update(urn, r.id, read.properties, checked.inputs) : read.properties;
  return { diff, refreshed: read.properties, next: { id: r.id, inputs: checked.inputs, outs } };
}

beforeAll(async () => {
  engine = await startTestEngine();
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  text.pool = (await serializeProvider(diskPoolProvider)).text;
  text.vm = (await serializeProvider(vmProvider)).text;
  text.fleet = (await serializeProvider(fleetProvider)).text;
  const image = await makeRawImage(path.join(engine.dir, "image.raw"), 4);
  ids.a = (await engine.client.datastores.create({ name: "a", path: path.join(engine.dir, "a") })).id;
  ids.b = (await engine.client.datastores.create({ name: "b", path: path.join(engine.dir, "b") })).id;
  const tpl = await importTemplate(engine.client, "tiny", ids.a, image);
  ids.tpl = tpl.id;
  tplDisk = tpl.disk_path;
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  await engine?.stop();
});

test("the providers serialize without secrets and load the runtime by package name", async () => {
  for (const p of [diskPoolProvider, vmProvider, fleetProvider]) {
    const sf = await serializeProvider(p);
    expect(sf.containsSecrets).toBe(false);
    expect(sf.text).toContain("clonefleet/dist/pulumi/provider-runtime");
  }
});

test("check names every bad input in camelCase; unknown values wait; defaults filled", async () => {
  const pool = await server.check(urnOf("DiskPool", "bad"), {}, { templateId: "", size: -1, atSize: false, ...conn(), __provider: text.pool });
  expect(pool.failures.map((f) => f.property).sort()).toEqual(["atSize", "datastoreId", "size", "templateId"]);
  const vm = await server.check(urnOf("Vm", "bad"), {}, { name: "no/slash", cloneMode: "thin", datastoreId: "", ...conn(), __provider: text.vm });
  expect(vm.failures.map((f) => f.property).sort()).toEqual(["cloneMode", "datastoreId", "name", "templateId"]);
  const fleet = await server.check(
    urnOf("Fleet", "bad"),
    {},
    { templateId: "tpl-x", size: 5000, namePrefix: "../up", datastoreIds: ["ds-1", "ds-1", ""], cloneMode: "thin", membersHealthy: false, ...conn(), __provider: text.fleet },
  );
  expect(fleet.failures.map((f) => f.property).sort()).toEqual(["cloneMode", "datastoreIds[1]", "datastoreIds[2]", "membersHealthy", "namePrefix", "size"]);
  expect(fleet.failures.find((f) => f.property === "datastoreIds[1]")!.reason).toMatch(/repeats ds-1/);
  const empty = await server.check(urnOf("Fleet", "empty"), {}, { templateId: "tpl-x", size: 1, datastoreIds: [], ...conn(), __provider: text.fleet });
  expect(empty.failures.map((f) => f.property)).toEqual(["datastoreIds"]);

  const preview = await server.check(urnOf("Fleet", "later"), {}, { templateId: UNKNOWN, size: 2, datastoreIds: [UNKNOWN], ...conn(), __provider: text.fleet });
  expect(preview.failures).toEqual([]);
  expect(preview.inputs).toMatchObject({ cloneMode: "pool", membersHealthy: true });
  const vmPreview = await server.check(urnOf("Vm", "later"), {}, { name: "later", templateId: UNKNOWN, ...conn(), __provider: text.vm });
  expect(vmPreview.inputs).toMatchObject({ cloneMode: "pool" });
});

describe("pools, a fleet and VMs through their whole lifecycle", () => {
  const urns = { a: urnOf("DiskPool", "a"), b: urnOf("DiskPool", "b"), fleet: urnOf("Fleet", "web"), linked: urnOf("Vm", "linked"), solo: urnOf("Vm", "solo") };
  const pool: Record<"a" | "b", Created> = {} as Record<"a" | "b", Created>;
  let fleet: Created;
  const vm: Record<"linked" | "solo", Created> = {} as Record<"linked" | "solo", Created>;
  const poolNews = (ds: string, size: number): Props => ({ templateId: ids.tpl, datastoreId: ds, size, ...conn(), __provider: text.pool });
  const fleetNews = (extra: Props = {}): Props => ({ templateId: ids.tpl, size: 3, namePrefix: "web", datastoreIds: [ids.a, ids.b], ...conn(), ...extra, __provider: text.fleet });
  const soloNews = (extra: Props = {}): Props => ({ name: "solo", templateId: ids.tpl, datastoreId: ids.b, ...conn(), ...extra, __provider: text.vm });
  const linkedNews = (): Props => ({ name: "linked", templateId: ids.tpl, cloneMode: "linked", ...conn(), __provider: text.vm });

  test("create: pools wait until full; a fleet and VMs take their copies", async () => {
    pool.a = await checkAndCreate(urns.a, poolNews(ids.a, 2));
    pool.b = await checkAndCreate(urns.b, poolNews(ids.b, 2));
    expect(pool.a.id).toMatch(/^pool-/);
    expect(pool.a.outs).toMatchObject({ templateId: ids.tpl, datastoreId: ids.a, size: 2, atSize: true, endpoint: engine.engine.url });
    expect(pool.a.outs).not.toHaveProperty("ready");

    // Hold the refill so that the refresh below sees the pools short.
    await engine.engine.refill.close();
    fleet = await checkAndCreate(urns.fleet, fleetNews());
    expect(fleet.id).toMatch(/^fleet-/);
    expect(fleet.outs).toMatchObject({ templateId: ids.tpl, size: 3, namePrefix: "web", datastoreIds: [ids.a, ids.b], cloneMode: "pool", membersHealthy: true });
    const members = fleet.outs.vms as Member[];
    expect(members.map((m) => m.name)).toEqual(["web-1", "web-2", "web-3"]);
    expect(members.map((m) => m.provisionedBy)).toEqual(["pool", "pool", "pool"]);

    vm.linked = await checkAndCreate(urns.linked, linkedNews());
    expect(vm.linked.outs).toMatchObject({ name: "linked", cloneMode: "linked", datastoreId: ids.a, provisionedBy: "linked", chainDepth: 2, state: "ready" });
    const chain = vm.linked.outs.diskChain as { path: string; contentId: string }[];
    expect(chain.map((l) => l.path)).toEqual([vm.linked.outs.diskPath, tplDisk]);
    expect(chain[1].contentId).toBe((await engine.client.templates.get(ids.tpl))!.content_id);
    vm.solo = await checkAndCreate(urns.solo, soloNews());
    expect(vm.solo.outs).toMatchObject({ name: "solo", cloneMode: "pool", datastoreId: ids.b, chainDepth: 1 });
  });

  test("diff: nothing changed is empty; replace keys replace, old one first; size changes in place", async () => {
    expect(await server.diff(urns.fleet, fleet.id, fleet.outs, fleet.inputs)).toEqual({ changes: "none", replaces: [], deleteBeforeReplace: false });
    expect(await server.diff(urns.fleet, fleet.id, fleet.outs, { ...fleet.inputs, size: 4 })).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(await server.diff(urns.fleet, fleet.id, fleet.outs, { ...fleet.inputs, cloneMode: "full" })).toEqual({
      changes: "some",
      replaces: ["cloneMode"],
      deleteBeforeReplace: true,
    });
    const { namePrefix: _p, ...noPrefix } = fleet.inputs;
    expect((await server.diff(urns.fleet, fleet.id, fleet.outs, noPrefix)).changes).toBe("none");
    // The linked VM was given no datastore: the template's, in its outputs, is no change.
    expect((await server.diff(urns.linked, vm.linked.id, vm.linked.outs, vm.linked.inputs)).changes).toBe("none");
    expect((await server.diff(urns.solo, vm.solo.id, vm.solo.outs, { ...vm.solo.inputs, datastoreId: ids.a })).replaces).toEqual(["datastoreId"]);
    expect((await server.diff(urns.a, pool.a.id, pool.a.outs, { ...pool.a.inputs, templateId: UNKNOWN })).replaces).toEqual(["templateId"]);
    expect(await server.diff(urns.a, pool.a.id, pool.a.outs, { ...pool.a.inputs, size: 3 })).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
  });

  test("drift: a pool below its size refreshes with atSize false, and the update waits for the refill", async () => {
    const { diff, refreshed, next } = await (async () => {
      const read = await server.read(urns.a, pool.a.id, pool.a.outs, pool.a.inputs);
      expect(read.properties).toMatchObject({ atSize: false });
      engine.engine.refill.start();
      const checked = await server.check(urns.a, pool.a.inputs, poolNews(ids.a, 2));
      const d = await server.diff(urns.a, pool.a.id, read.properties, checked.inputs);
      const outs = await server.update(urns.a, pool.a.id, read.properties, checked.inputs);
      return { diff: d, refreshed: read.properties, next: { id: pool.a.id, inputs: checked.inputs, outs } };
    })();
    expect(refreshed.atSize).toBe(false);
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(next.outs).toMatchObject({ size: 2, atSize: true });
    pool.a = next;
    const b = await refreshAndUp(urns.b, pool.b, poolNews(ids.b, 2));
    expect(b.next.outs).toMatchObject({ atSize: true });
    pool.b = b.next;
  });

  test("import: Read from the id alone hands back the inputs", async () => {
    const p = await server.read(urns.a, pool.a.id, { ...conn(), __provider: text.pool });
    expect(p.inputs).toEqual({ templateId: ids.tpl, datastoreId: ids.a, size: 2, endpoint: engine.engine.url, __provider: text.pool });
    const f = await server.read(urns.fleet, fleet.id, { ...conn(), __provider: text.fleet });
    expect(f.inputs).toEqual({ templateId: ids.tpl, size: 3, namePrefix: "web", datastoreIds: [ids.a, ids.b], cloneMode: "pool", powerState: "stopped", endpoint: engine.engine.url, __provider: text.fleet });
    expect(f.properties).toMatchObject({ vms: fleet.outs.vms, membersHealthy: true });
    const v = await server.read(urns.linked, vm.linked.id, { ...conn(), __provider: text.vm });
    expect(v.inputs).toMatchObject({ name: "linked", templateId: ids.tpl, cloneMode: "linked", datastoreId: ids.a });
  });

  test("update: a pool's size and a fleet's size change in place; shrinking removes the newest", async () => {
    const outs = await server.update(urns.b, pool.b.id, pool.b.outs, { ...pool.b.inputs, size: 3 });
    expect(outs).toMatchObject({ size: 3, atSize: true });
    pool.b = { ...pool.b, inputs: { ...pool.b.inputs, size: 3 }, outs };

    const old = fleet.outs.vms as Member[];
    const grown = await server.update(urns.fleet, fleet.id, fleet.outs, { ...fleet.inputs, size: 5 });
    expect((grown.vms as Member[]).map((m) => m.name)).toEqual(["web-1", "web-2", "web-3", "web-4", "web-5"]);
    expect((grown.vms as Member[]).slice(0, 3)).toEqual(old);
    const shrunk = await server.update(urns.fleet, fleet.id, grown, { ...fleet.inputs, size: 2 });
    expect(shrunk.vms).toEqual(old.slice(0, 2));
    for (const m of (grown.vms as Member[]).slice(2)) expect(await engine.client.vms.get(m.id)).toBeNull();
    const back = await server.update(urns.fleet, fleet.id, shrunk, fleet.inputs);
    expect((back.vms as Member[]).length).toBe(3);
    fleet = { ...fleet, outs: back };
  });

  test("drift: a fleet member's disk removed refreshes membersHealthy false; the update remakes it", async () => {
    const members = fleet.outs.vms as Member[];
    await fs.rm(members[0].diskPath);
    const { diff, refreshed, next } = await refreshAndUp(urns.fleet, fleet, fleetNews());
    expect(refreshed).toMatchObject({ membersHealthy: false });
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    const repaired = next.outs.vms as Member[];
    expect(next.outs).toMatchObject({ membersHealthy: true, size: 3 });
    expect(repaired).toHaveLength(3);
    expect(repaired.map((m) => m.id)).not.toContain(members[0].id);
    for (const m of repaired) await fs.access(m.diskPath);
    fleet = next;
  });

  test("drift: a VM deleted outside Pulumi reads as gone and is created again", async () => {
    await engine.client.vms.delete(vm.solo.id);
    const gone = await server.read(urns.solo, vm.solo.id, vm.solo.outs, vm.solo.inputs);
    expect(gone.id).toBe("");
    await expect(server.update(urns.solo, vm.solo.id, vm.solo.outs, vm.solo.inputs)).rejects.toThrow(/^CF_NOT_FOUND: cannot update VM .* removed outside clonefleet/);
    // Its disk vanishing is the same to the program.
    await fs.rm(vm.linked.outs.diskPath as string);
    expect((await server.read(urns.linked, vm.linked.id, vm.linked.outs, vm.linked.inputs)).id).toBe("");
    const solo = await checkAndCreate(urns.solo, soloNews());
    expect(solo.id).not.toBe(vm.solo.id);
    vm.solo = solo;
    const linked = await checkAndCreate(urns.linked, linkedNews());
    expect(linked.outs).toMatchObject({ name: "linked", provisionedBy: "linked" });
    vm.linked = linked;
  });

  test("replacement: the old fleet and VM go first, then the new ones", async () => {
    await server.delete(urns.fleet, fleet.id, fleet.outs);
    const full = await checkAndCreate(urns.fleet, fleetNews({ cloneMode: "full" }));
    expect((full.outs.vms as Member[]).map((m) => m.provisionedBy)).toEqual(["copy", "copy", "copy"]);
    expect(await engine.client.fleets.get(fleet.id)).toBeNull();
    fleet = full;
    await server.delete(urns.solo, vm.solo.id, vm.solo.outs);
    vm.solo = await checkAndCreate(urns.solo, soloNews({ name: "solo2", cloneMode: "full" }));
    expect(vm.solo.outs).toMatchObject({ name: "solo2", provisionedBy: "copy" });
  });

  test("engine refusals name the camelCase input", async () => {
    const urn = urnOf("Vm", "x");
    const checked = await server.check(urn, {}, soloNews({ name: "x", cloneMode: "linked" }));
    const err = await server.create(urn, checked.inputs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect((err as ProviderCallError).details).toMatch(/^CF_[A-Z_]+: cannot create VM "x": .*(cloneMode|datastoreId)/);
    const nope = await server.create(urnOf("DiskPool", "x"), { ...poolNews("ds-0000000000000000", 1), atSize: true }).catch((e: unknown) => e);
    expect((nope as ProviderCallError).details).toMatch(/^CF_NOT_FOUND: cannot create disk pool .*datastoreId/);
  });

  test("delete: everything goes; deleting one already gone succeeds", async () => {
    await server.delete(urns.fleet, fleet.id, fleet.outs);
    await server.delete(urns.fleet, fleet.id, fleet.outs);
    for (const name of ["linked", "solo"] as const) await server.delete(urns[name], vm[name].id, vm[name].outs);
    await waitPoolsSettled(engine.client);
    for (const name of ["a", "b"] as const) await server.delete(urns[name], pool[name].id, pool[name].outs);
    expect(await engine.client.fleets.list()).toEqual([]);
    expect(await engine.client.vms.list()).toEqual([]);
    expect(await engine.client.pools.list()).toEqual([]);
  });
});
