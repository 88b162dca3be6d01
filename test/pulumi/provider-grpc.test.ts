/**
 * The dynamic providers through the Pulumi SDK's own dynamic-provider gRPC server, launched and
 * called as the Pulumi engine does, against a real engine on loopback.
 */
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { version as sdkVersion } from "@pulumi/pulumi/version";
import { datastoreProvider, templateProvider } from "../../pulumi";
import { ClonefleetClient } from "../../engine/client";
import { hasPattern, makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
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

jest.setTimeout(120_000);

const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

let engine: TestEngine;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
let dsProviderText: string;
let tplProviderText: string;
let image: string;

beforeAll(async () => {
  engine = await startTestEngine();
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  dsProviderText = (await serializeProvider(datastoreProvider)).text;
  tplProviderText = (await serializeProvider(templateProvider)).text;
  image = await makeRawImage(path.join(engine.dir, "base.raw"));
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  await engine?.stop();
});

function conn(): { endpoint: string; token: string } {
  return { endpoint: engine.engine.url, token: engine.engine.token! };
}

function dsNews(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, path: path.join(engine.dir, `store-${name}`), ...conn(), ...extra, __provider: dsProviderText };
}

function tplNews(name: string, datastoreId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, datastoreId, sourcePath: image, ...conn(), ...extra, __provider: tplProviderText };
}

/** Check then Create, as `pulumi up` does for a new resource. */
async function checkAndCreate(urn: string, news: Record<string, unknown>): Promise<{ id: string; inputs: Record<string, unknown>; outs: Record<string, unknown> }> {
  const checked = await server.check(urn, {}, news);
  expect(checked.failures).toEqual([]);
  const created = await server.create(urn, checked.inputs);
  return { id: created.id, inputs: checked.inputs, outs: created.properties };
}

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

test("the server is the SDK's own, and the providers serialize without secrets", async () => {
  expect(await server.pluginVersion()).toBe(sdkVersion);
  for (const provider of [datastoreProvider, templateProvider]) {
    const sf = await serializeProvider(provider);
    expect(sf.containsSecrets).toBe(false);
    expect(sf.text).toContain("clonefleet/dist/pulumi/provider-runtime");
    expect(sf.text).not.toContain(engine.engine.token!);
  }
});

test("datastore: check, create, diff, update, read, import, drift, delete", async () => {
  const urn = urnOf("Datastore", "ds-life");
  const news = dsNews("ds-life");
  const { id, inputs, outs } = await checkAndCreate(urn, news);
  expect(id).toMatch(/^ds-/);
  expect(outs).toMatchObject({ name: "ds-life", path: news.path, endpoint: engine.engine.url, __provider: dsProviderText });
  // Free space moves on its own: it is getDatastore's, not an output, or every refresh would differ.
  expect(outs).not.toHaveProperty("freeBytes");
  expect((await engine.client.datastores.get(id))?.name).toBe("ds-life");

  // Nothing changed: an empty plan.
  expect(await server.diff(urn, id, outs, inputs)).toEqual({ changes: "none", replaces: [], deleteBeforeReplace: false });
  // A new name replaces; the path stays and would clash, so the old one goes first.
  expect(await server.diff(urn, id, outs, { ...inputs, name: "ds-renamed" })).toEqual({
    changes: "some",
    replaces: ["name"],
    deleteBeforeReplace: true,
  });
  // During preview an unknown path still means replacement.
  expect((await server.diff(urn, id, outs, { ...inputs, path: UNKNOWN })).replaces).toEqual(["path"]);

  // A new endpoint for the same engine changes in place.
  const otherEndpoint = engine.engine.url.replace("127.0.0.1", "localhost");
  const moved = { ...inputs, endpoint: otherEndpoint };
  expect(await server.diff(urn, id, outs, moved)).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
  const updated = await server.update(urn, id, outs, moved);
  expect(updated).toMatchObject({ name: "ds-life", endpoint: otherEndpoint });

  // Refresh.
  const read = await server.read(urn, id, updated, moved);
  expect(read.id).toBe(id);
  expect(read.properties).toMatchObject({ name: "ds-life", path: news.path, endpoint: otherEndpoint });
  expect(read.inputs).toBeNull();

  // Import: only the id and the connection are known; Read hands back the inputs too.
  const imported = await server.read(urn, id, { ...conn(), __provider: dsProviderText });
  expect(imported.id).toBe(id);
  expect(imported.inputs).toMatchObject({ name: "ds-life", endpoint: engine.engine.url });
  expect(imported.inputs).not.toHaveProperty("token");

  // Removed outside clonefleet: Read answers an empty id and no properties but the provider's own.
  await engine.client.datastores.delete(id);
  const gone = await server.read(urn, id, updated);
  expect(gone.id).toBe("");
  expect(Object.keys(gone.properties)).toEqual(["__provider"]);
  // An update of something that vanished says what to do.
  await expect(server.update(urn, id, outs, inputs)).rejects.toThrow(/^CF_NOT_FOUND: cannot update datastore .* removed outside clonefleet/);

  // Deleting what is already gone succeeds.
  await server.delete(urn, id, updated);
});

test("template: defaults, import job, diff with replacement, read, drift, delete", async () => {
  const ds = await checkAndCreate(urnOf("Datastore", "ds-tpl"), dsNews("ds-tpl"));
  const urn = urnOf("Template", "base");
  const news = tplNews("base", ds.id);
  const { id, inputs, outs } = await checkAndCreate(urn, news);
  // Check fills the engine's defaults, so that the next diff against the outputs stays empty.
  expect(inputs).toMatchObject({ memoryMb: 256, vcpus: 1 });
  expect(id).toMatch(/^tpl-/);
  expect(outs).toMatchObject({ name: "base", datastoreId: ds.id, sourcePath: image, memoryMb: 256, vcpus: 1, state: "ready", kernel: null });
  expect(outs.contentId).toMatch(/^[0-9a-f]{32}$/);
  expect(outs.virtualSizeBytes).toBe(16 * 1024 * 1024);
  expect(await hasPattern(outs.diskPath as string)).toBe(true);

  expect(await server.diff(urn, id, outs, inputs)).toEqual({ changes: "none", replaces: [], deleteBeforeReplace: false });
  // Same name, new shape: replaced, and the old template must go first because names are unique.
  expect(await server.diff(urn, id, outs, { ...inputs, vcpus: 2 })).toEqual({ changes: "some", replaces: ["vcpus"], deleteBeforeReplace: true });
  // A new name could live beside the old one: create first.
  expect(await server.diff(urn, id, outs, { ...inputs, name: "base2", memoryMb: 512 })).toEqual({
    changes: "some",
    replaces: ["name", "memoryMb"],
    deleteBeforeReplace: false,
  });
  // A datastore being replaced shows as an unknown id during preview.
  expect((await server.diff(urn, id, outs, { ...inputs, datastoreId: UNKNOWN })).replaces).toEqual(["datastoreId"]);
  // A new token is not a new template.
  expect(await server.diff(urn, id, outs, { ...inputs, token: "rotated" })).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });

  // In place: a new endpoint for the same engine keeps the template.
  const moved = { ...inputs, endpoint: engine.engine.url.replace("127.0.0.1", "localhost") };
  const updated = await server.update(urn, id, outs, moved);
  expect(updated).toMatchObject({ endpoint: moved.endpoint, diskPath: outs.diskPath, contentId: outs.contentId, memoryMb: 256 });

  const read = await server.read(urn, id, updated, moved);
  expect(read.id).toBe(id);
  expect(read.properties).toMatchObject({ diskPath: outs.diskPath, contentId: outs.contentId, sourcePath: image, endpoint: moved.endpoint });

  // Removed outside clonefleet.
  await engine.client.templates.delete(id);
  const gone = await server.read(urn, id, outs, inputs);
  expect(gone.id).toBe("");
  expect(Object.keys(gone.properties)).toEqual(["__provider"]);
  await fs.access(outs.diskPath as string).then(
    () => Promise.reject(new Error("the disk should be gone")),
    () => undefined,
  );

  // Recreate, then destroy in dependency order through the provider.
  const again = await checkAndCreate(urn, news);
  await server.delete(urn, again.id, again.outs);
  expect(await engine.client.templates.get(again.id)).toBeNull();
  await server.delete(urnOf("Datastore", "ds-tpl"), ds.id, ds.outs);
  expect(await engine.client.datastores.get(ds.id)).toBeNull();
});

test("bad input: check failures name the camelCase input; engine refusals name it too", async () => {
  const ds = await server.check(urnOf("Datastore", "bad"), {}, { name: "../up", path: "relative/dir", ...conn(), __provider: dsProviderText });
  expect(ds.failures.map((f) => f.property).sort()).toEqual(["name", "path"]);
  expect(ds.failures.find((f) => f.property === "path")!.reason).toMatch(/absolute/);

  const tpl = await server.check(urnOf("Template", "bad"), {}, tplNews("ok-name", "ds_x", { memoryMb: 1, vcpus: 0, initrd: "/boot/initrd" }));
  expect(tpl.failures.map((f) => f.property).sort()).toEqual(["initrd", "memoryMb", "vcpus"]);
  expect(tpl.failures.find((f) => f.property === "memoryMb")!.reason).toMatch(/between 16 and/);

  const missing = await server.check(urnOf("Template", "missing"), {}, { endpoint: "ftp://x", __provider: tplProviderText });
  expect(missing.failures.map((f) => f.property).sort()).toEqual(["datastoreId", "endpoint", "name", "sourcePath"]);

  // Unknown values (preview) are not judged.
  const preview = await server.check(urnOf("Template", "preview"), {}, tplNews(UNKNOWN, UNKNOWN, { memoryMb: UNKNOWN, sourcePath: UNKNOWN }));
  expect(preview.failures).toEqual([]);

  // What only the engine can know (the file) comes back as a CF_ error naming the input.
  const store = await checkAndCreate(urnOf("Datastore", "ds-bad"), dsNews("ds-bad"));
  const urn = urnOf("Template", "nofile");
  const checked = await server.check(urn, {}, tplNews("nofile", store.id, { sourcePath: path.join(engine.dir, "missing.qcow2") }));
  expect(checked.failures).toEqual([]);
  const err = await server.create(urn, checked.inputs).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ProviderCallError);
  expect((err as ProviderCallError).details).toMatch(/^CF_INVALID_FIELD: cannot create template "nofile": sourcePath: cannot read .*no such file/);
  await server.delete(urnOf("Datastore", "ds-bad"), store.id, store.outs);
});

test("a wrong token or an unreachable endpoint is one clear sentence", async () => {
  const noStack = (e: unknown) => {
    expect(e).toBeInstanceOf(ProviderCallError);
    expect((e as ProviderCallError).details).not.toMatch(/\n\s+at /);
    return (e as ProviderCallError).details;
  };
  const wrong = await server.create(urnOf("Datastore", "wrong"), dsNews("wrong", { token: "not-the-token" })).catch((e: unknown) => e);
  expect(noStack(wrong)).toMatch(/^CF_UNAUTHORIZED: cannot create datastore "wrong": the clonefleet engine at \S+ refused the API token \(the API token is wrong or was revoked\); set `token`/);

  // Read goes through a different path in the SDK's server (it logs and answers the error).
  const readWrong = await server.read(urnOf("Datastore", "wrong"), "ds_x", dsNews("wrong", { token: "not-the-token" })).catch((e: unknown) => e);
  expect(noStack(readWrong)).toMatch(/^CF_UNAUTHORIZED: cannot read datastore ds_x/);
  expect(server.stderr).not.toMatch(/CF_UNAUTHORIZED[^\n]*\n\s+at /);

  const endpoint = `http://127.0.0.1:${await closedPort()}`;
  const unreachable = await server.create(urnOf("Datastore", "far"), dsNews("far", { endpoint })).catch((e: unknown) => e);
  expect(noStack(unreachable)).toMatch(
    new RegExp(`^CF_UNREACHABLE: cannot create datastore "far": cannot reach the clonefleet engine at ${endpoint} \\(.*ECONNREFUSED.*\\); start it with`),
  );
  const names = (await engine.client.datastores.list()).map((d) => d.name);
  expect(names).not.toContain("wrong");
  expect(names).not.toContain("far");
});

test("a provider that captures a live client cannot be serialized", async () => {
  // The pattern the providers avoid: a client built at module scope and captured.
  const client = new ClonefleetClient(conn());
  const capturing: pulumi.dynamic.ResourceProvider = {
    async create(inputs) {
      const d = await client.datastores.create({ name: inputs.name, path: inputs.path });
      return { id: d.id, outs: inputs };
    },
  };
  await expect(serializeProvider(capturing)).rejects.toThrow(/variable 'client'[\s\S]*could not be serialized/);
});

test("a project that cannot load the clonefleet package gets a setup error, not a crash", async () => {
  const bare = await DynamicProviderProcess.launch(dirs.bare, stub.address);
  try {
    await bare.configure({});
    const err = await bare.check(urnOf("Datastore", "x"), {}, dsNews("x")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderCallError);
    expect((err as ProviderCallError).details).toMatch(/^CF_PROVIDER_SETUP: .* cannot load clonefleet\/dist\/pulumi\/provider-runtime .*npm run build$/);
  } finally {
    await bare.stop();
  }
});
