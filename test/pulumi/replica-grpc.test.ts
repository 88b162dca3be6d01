/**
 * The Replica dynamic provider through the Pulumi SDK's own dynamic-provider gRPC server, called
 * as the Pulumi engine calls it, against a real engine with real qcow2 chains: check, create,
 * diff, in-place update, import, drift seen by a refresh and repaired by the next update
 * (copying only the missing layer), an out-of-band delete, replacement, delete.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { datastoreProvider, replicaProvider, templateProvider } from "../../pulumi";
import { makeChain, sameContent, type TestChain } from "../support/chains";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import {
  DynamicProviderProcess,
  makeProjectDirs,
  ProviderCallError,
  serializeProvider,
  startEngineStub,
  urnOf,
  type EngineStub,
  type ProjectDirs,
} from "./support/provider-host";

jest.setTimeout(180_000);

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

type Props = Record<string, unknown>;
interface Created {
  id: string;
  inputs: Props;
  outs: Props;
}

let engine: TestEngine;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
const text = { ds: "", tpl: "", rep: "" };
const ds: Record<"src" | "dst" | "alt", Created> = {} as Record<"src" | "dst" | "alt", Created>;
let tpl: Created;
let handId: string;
let chain: TestChain;

function conn(): { endpoint: string; token: string } {
  return { endpoint: engine.engine.url, token: engine.engine.token! };
}

function repNews(source: { sourceDiskPath?: string; templateId?: string }, targetDatastoreId: string, extra: Props = {}): Props {
  return { ...source, targetDatastoreId, ...conn(), ...extra, __provider: text.rep };
}

/** Check then Create, as `pulumi up` does for a new resource. */
async function checkAndCreate(urn: string, news: Props): Promise<Created> {
  const checked = await server.check(urn, {}, news);
  expect(checked.failures).toEqual([]);
  const created = await server.create(urn, checked.inputs);
  return { id: created.id, inputs: checked.inputs, outs: created.properties };
}

const fileSize = async (p: string) => (await fs.stat(p)).size;

beforeAll(async () => {
  engine = await startTestEngine();
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  text.ds = (await serializeProvider(datastoreProvider)).text;
  text.tpl = (await serializeProvider(templateProvider)).text;
  text.rep = (await serializeProvider(replicaProvider)).text;

  for (const name of ["src", "dst", "alt"] as const) {
    ds[name] = await checkAndCreate(urnOf("Datastore", name), { name, path: path.join(engine.dir, name), ...conn(), __provider: text.ds });
  }
  const image = await makeRawImage(path.join(engine.dir, "base.raw"));
  tpl = await checkAndCreate(urnOf("Template", "tiny"), { name: "tiny", datastoreId: ds.src.id, sourcePath: image, ...conn(), __provider: text.tpl });

  // A chain filled by hand into a datastore Pulumi does not manage, registered so its layers have content IDs.
  const hand = await engine.client.datastores.create({ name: "hand", path: path.join(engine.dir, "hand") });
  handId = hand.id;
  chain = await makeChain(path.join(hand.path, "disks"));
  await engine.client.disks.register(chain.top);
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  await engine?.stop();
});

test("the Replica provider serializes without secrets and loads the runtime by package name", async () => {
  const sf = await serializeProvider(replicaProvider);
  expect(sf.containsSecrets).toBe(false);
  expect(sf.text).toContain("clonefleet/dist/pulumi/provider-runtime");
});

test("check: exactly one source, a target, no inSync of false; unknown values wait; defaults filled", async () => {
  const urn = urnOf("Replica", "bad");
  const both = await server.check(urn, {}, repNews({ sourceDiskPath: chain.top, templateId: tpl.id }, ds.dst.id));
  expect(both.failures.map((f) => f.property).sort()).toEqual(["sourceDiskPath", "templateId"]);
  expect(both.failures[0].reason).toMatch(/exactly one of sourceDiskPath and templateId/);

  const none = await server.check(urn, {}, { ...conn(), __provider: text.rep });
  expect(none.failures.map((f) => f.property).sort()).toEqual(["sourceDiskPath", "targetDatastoreId"]);

  const bad = await server.check(urn, {}, repNews({ sourceDiskPath: "relative/top.qcow2" }, "", { inSync: false, verify: "yes" }));
  expect(bad.failures.map((f) => f.property).sort()).toEqual(["inSync", "sourceDiskPath", "targetDatastoreId", "verify"]);
  expect(bad.failures.find((f) => f.property === "inSync")!.reason).toMatch(/leave it unset/);

  const preview = await server.check(urn, {}, repNews({ templateId: UNKNOWN }, UNKNOWN));
  expect(preview.failures).toEqual([]);
  expect(preview.inputs).toMatchObject({ verify: false, inSync: true });
});

describe("a replica's whole lifecycle", () => {
  const urns = { tiny: urnOf("Replica", "tiny"), base: urnOf("Replica", "base"), top: urnOf("Replica", "top") };
  const rep: Record<"tiny" | "base" | "top", Created> = {} as Record<"tiny" | "base" | "top", Created>;

  test("create: a template's replica; a chain's base, then the whole chain reusing it by content ID", async () => {
    rep.tiny = await checkAndCreate(urns.tiny, repNews({ templateId: tpl.id }, ds.dst.id));
    expect(rep.tiny.id).toMatch(/^rep-/);
    expect(rep.tiny.outs).toMatchObject({
      templateId: tpl.id,
      sourceDiskPath: null,
      targetDatastoreId: ds.dst.id,
      verify: false,
      inSync: true,
      layersCopied: 1,
      layersReused: 0,
      reusedLayers: [],
      copiedBytes: await fileSize(tpl.outs.diskPath as string),
      endpoint: engine.engine.url,
    });
    expect(rep.tiny.outs.chain).toEqual([{ path: rep.tiny.outs.diskPath, contentId: tpl.outs.contentId, parentContentId: null, origin: "copied" }]);

    rep.base = await checkAndCreate(urns.base, repNews({ sourceDiskPath: chain.base }, ds.dst.id));
    expect(rep.base.outs).toMatchObject({ layersCopied: 1, layersReused: 0, copiedBytes: await fileSize(chain.base) });

    rep.top = await checkAndCreate(urns.top, repNews({ sourceDiskPath: chain.top }, ds.dst.id, { verify: true }));
    const source = await engine.client.disks.chain(chain.top);
    expect(rep.top.outs).toMatchObject({
      sourceDiskPath: chain.top,
      templateId: null,
      verify: true,
      inSync: true,
      layersCopied: 2,
      layersReused: 1,
      reusedLayers: [{ path: rep.base.outs.diskPath, contentId: source.layers[2].content_id }],
      copiedBytes: (await fileSize(chain.top)) + (await fileSize(chain.middle)),
    });
    const topChain = rep.top.outs.chain as { contentId: string; parentContentId: string | null; origin: string }[];
    expect(topChain.map((l) => l.origin)).toEqual(["copied", "copied", "reused"]);
    expect(topChain.map((l) => [l.contentId, l.parentContentId])).toEqual(source.layers.map((l) => [l.content_id, l.parent_content_id]));
    expect(await sameContent(chain.top, rep.top.outs.diskPath as string)).toBe(true);
    // The outputs carry the token only as the engine's secret input, never in the provider text.
    expect(rep.top.outs.__provider).toBe(text.rep);
  });

  test("diff: nothing changed is empty; a new source or target replaces, old one first; verify changes in place", async () => {
    const { id, inputs, outs } = rep.top;
    expect(await server.diff(urns.top, id, outs, inputs)).toEqual({ changes: "none", replaces: [], deleteBeforeReplace: false });
    expect(await server.diff(urns.top, id, outs, { ...inputs, targetDatastoreId: ds.alt.id })).toEqual({
      changes: "some",
      replaces: ["targetDatastoreId"],
      deleteBeforeReplace: true,
    });
    expect((await server.diff(urns.tiny, rep.tiny.id, rep.tiny.outs, { ...rep.tiny.inputs, templateId: UNKNOWN })).replaces).toEqual(["templateId"]);
    expect(await server.diff(urns.top, id, outs, { ...inputs, sourceDiskPath: chain.middle })).toMatchObject({ replaces: ["sourceDiskPath"] });
    expect(await server.diff(urns.tiny, rep.tiny.id, rep.tiny.outs, { ...rep.tiny.inputs, verify: true })).toEqual({
      changes: "some",
      replaces: [],
      deleteBeforeReplace: false,
    });
  });

  test("update: verify changes in place without copying anything", async () => {
    const news = { ...rep.tiny.inputs, verify: true };
    const outs = await server.update(urns.tiny, rep.tiny.id, rep.tiny.outs, news);
    expect(outs).toMatchObject({ verify: true, inSync: true, copiedBytes: rep.tiny.outs.copiedBytes, diskPath: rep.tiny.outs.diskPath });
    expect((await engine.client.replicas.get(rep.tiny.id))?.last_run.kind).toBe("create");
    rep.tiny = { ...rep.tiny, inputs: news, outs };
  });

  test("import: Read from the id alone hands back the inputs", async () => {
    const imported = await server.read(urns.top, rep.top.id, { ...conn(), __provider: text.rep });
    expect(imported.id).toBe(rep.top.id);
    expect(imported.inputs).toEqual({ sourceDiskPath: chain.top, targetDatastoreId: ds.dst.id, verify: true, endpoint: engine.engine.url, __provider: text.rep });
    const { token: _t, endpoint: _e, __provider: _p, ...expected } = rep.top.outs;
    expect(imported.properties).toMatchObject(expected);
    const importedTpl = await server.read(urns.tiny, rep.tiny.id, { ...conn(), __provider: text.rep });
    expect(importedTpl.inputs).toMatchObject({ templateId: tpl.id, targetDatastoreId: ds.dst.id });
    expect(importedTpl.inputs).not.toHaveProperty("sourceDiskPath");
  });

  test("drift: refresh reads inSync false, and the next update repairs it by copying only the missing layer", async () => {
    const before = (await engine.client.replicas.get(rep.top.id))!;
    const midCopy = before.last_run.copied.find((c) => c.position === 1)!;
    await fs.rm(midCopy.target_path);

    // pulumi refresh
    const refreshed = await server.read(urns.top, rep.top.id, rep.top.outs, rep.top.inputs);
    expect(refreshed.id).toBe(rep.top.id);
    expect(refreshed.properties).toMatchObject({ inSync: false, copiedBytes: rep.top.outs.copiedBytes });
    // pulumi up: check fills inSync, diff sees it move back to true, and an in-place update follows.
    const checked = await server.check(urns.top, rep.top.inputs, repNews({ sourceDiskPath: chain.top }, ds.dst.id, { verify: true }));
    expect(checked.failures).toEqual([]);
    expect(await server.diff(urns.top, rep.top.id, refreshed.properties, checked.inputs)).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    const outs = await server.update(urns.top, rep.top.id, refreshed.properties, checked.inputs);
    expect(outs).toMatchObject({ inSync: true, copiedBytes: (rep.top.outs.copiedBytes as number) + midCopy.bytes, diskPath: rep.top.outs.diskPath, chain: rep.top.outs.chain });

    const after = (await engine.client.replicas.get(rep.top.id))!;
    expect(after.state).toBe("ready");
    expect(after.last_run).toMatchObject({ kind: "repair", verified: true });
    expect(after.last_run.copied.map((c) => [c.position, c.bytes])).toEqual([[1, midCopy.bytes]]);
    await fs.access(midCopy.target_path);
    expect(await sameContent(chain.top, after.disk_path)).toBe(true);
    rep.top = { ...rep.top, inputs: checked.inputs, outs };

    const again = await server.read(urns.top, rep.top.id, outs, checked.inputs);
    expect(again.properties).toMatchObject({ inSync: true });
    expect((await server.diff(urns.top, rep.top.id, again.properties, checked.inputs)).changes).toBe("none");
  });

  test("drift: a replica deleted outside Pulumi reads as gone and is created again", async () => {
    await engine.client.replicas.delete(rep.top.id);
    const gone = await server.read(urns.top, rep.top.id, rep.top.outs, rep.top.inputs);
    expect(gone.id).toBe("");
    expect(Object.keys(gone.properties)).toEqual(["__provider"]);
    await expect(server.update(urns.top, rep.top.id, rep.top.outs, { ...rep.top.inputs, verify: false })).rejects.toThrow(
      /^CF_NOT_FOUND: cannot update replica .* removed outside clonefleet/,
    );
    const again = await checkAndCreate(urns.top, repNews({ sourceDiskPath: chain.top }, ds.dst.id, { verify: true }));
    expect(again.id).not.toBe(rep.top.id);
    expect(again.outs).toMatchObject({ layersCopied: 2, layersReused: 1, reusedLayers: [{ path: rep.base.outs.diskPath }] });
    rep.top = again;
  });

  test("replacement on a new target: the old one is deleted first, the new one copies every layer", async () => {
    await server.delete(urns.top, rep.top.id, rep.top.outs);
    const moved = await checkAndCreate(urns.top, repNews({ sourceDiskPath: chain.top }, ds.alt.id, { verify: true }));
    expect(moved.outs).toMatchObject({ targetDatastoreId: ds.alt.id, layersCopied: 3, layersReused: 0, reusedLayers: [] });
    expect(await engine.client.replicas.get(rep.top.id)).toBeNull();
    rep.top = moved;
  });

  test("engine refusals name the camelCase input", async () => {
    const urn = urnOf("Replica", "same");
    const checked = await server.check(urn, {}, repNews({ sourceDiskPath: chain.top }, handId));
    expect(checked.failures).toEqual([]);
    const err = await server.create(urn, checked.inputs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect((err as ProviderCallError).details).toMatch(/^CF_INVALID_FIELD: cannot create replica on datastore \S+: targetDatastoreId: .*already holds the source disk/);
    const unknownTpl = await server.create(urnOf("Replica", "nope"), repNews({ templateId: "tpl-0000000000000000" }, ds.dst.id, { verify: false, inSync: true })).catch((e: unknown) => e);
    expect((unknownTpl as ProviderCallError).details).toMatch(/^CF_NOT_FOUND: cannot create replica .*templateId/);
  });

  test("delete: every replica goes with its copied layers; deleting one already gone succeeds", async () => {
    for (const name of ["top", "base", "tiny"] as const) await server.delete(urns[name], rep[name].id, rep[name].outs);
    await server.delete(urns.top, rep.top.id, rep.top.outs);
    expect(await engine.client.replicas.list()).toEqual([]);
    for (const target of ["dst", "alt"]) {
      expect(await fs.readdir(path.join(engine.dir, target, "clonefleet", "replicas")).catch(() => [])).toEqual([]);
    }
    await server.delete(urnOf("Template", "tiny"), tpl.id, tpl.outs);
    for (const name of ["src", "dst", "alt"] as const) await server.delete(urnOf("Datastore", name), ds[name].id, ds[name].outs);
    expect((await engine.client.datastores.list()).map((d) => d.id)).toEqual([handId]);
  });
});
