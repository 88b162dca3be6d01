/**
 * Pulumi conventions through the SDK's dynamic-provider gRPC server against a real engine: a Vm
 * given no name is autonamed from its logical name once, at check, and keeps that name across
 * updates; the `timeouts` input bounds the wait for a job, which fails naming the job and the
 * limit while the job goes on in the engine.
 */
import * as path from "node:path";
import { fleetProvider, templateProvider, vmProvider } from "../../pulumi";
import { AUTONAME_INPUT } from "../../pulumi/autoname";
import { importTemplate } from "../support/clones";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { DynamicProviderProcess, makeProjectDirs, ProviderCallError, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "./support/provider-host";

jest.setTimeout(120_000);

let engine: TestEngine;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
let vmText = "";
let tplId = "";
let dsId = "";
let imagePath = "";

const conn = () => ({ endpoint: engine.engine.url, token: engine.engine.token! });

beforeAll(async () => {
  engine = await startTestEngine();
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  vmText = (await serializeProvider(vmProvider)).text;
  // Large enough that a full copy takes a while: the timeout test catches its job running.
  imagePath = await makeRawImage(path.join(engine.dir, "image.raw"), 512);
  const ds = await engine.client.datastores.create({ name: "a", path: path.join(engine.dir, "a") });
  dsId = ds.id;
  tplId = (await importTemplate(engine.client, "tiny", ds.id, imagePath)).id;
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  await engine?.stop();
});

test("a Vm without a name is autonamed from its logical name at check; the name stays across updates; a given name wins", async () => {
  const urn = urnOf("Vm", "web");
  const news = { templateId: tplId, [AUTONAME_INPUT]: "web", ...conn(), __provider: vmText };
  const checked = await server.check(urn, {}, news);
  expect(checked.failures).toEqual([]);
  const name = checked.inputs.name as string;
  expect(name).toMatch(/^web-[0-9a-z]{7}$/);
  const created = await server.create(urn, checked.inputs);
  expect(created.properties.name).toBe(name);
  expect((await engine.client.vms.get(created.id))!.name).toBe(name);
  // The next update: check gets the old inputs, keeps the name, and the diff is empty.
  const again = await server.check(urn, checked.inputs, news);
  expect(again.inputs.name).toBe(name);
  expect((await server.diff(urn, created.id, created.properties, again.inputs)).changes).toBe("none");
  // A name the user sets wins, and replaces the VM.
  const named = await server.check(urn, checked.inputs, { ...news, name: "web-main" });
  expect(named.inputs.name).toBe("web-main");
  expect(await server.diff(urn, created.id, created.properties, named.inputs)).toMatchObject({ changes: "some", replaces: ["name"] });
  await server.delete(urn, created.id, created.properties);
  expect(await engine.client.vms.get(created.id)).toBeNull();
});

test("a Vm with neither a name nor a logical name to make one from fails check naming `name`", async () => {
  const checked = await server.check(urnOf("Vm", "x"), {}, { templateId: tplId, ...conn(), __provider: vmText });
  expect(checked.failures).toEqual([{ property: "name", reason: "is required" }]);
});

test("timeouts: a bad value fails check; a job that outlives timeouts.create fails naming the job and the limit, and goes on in the engine", async () => {
  const urn = urnOf("Vm", "slow");
  const bad = await server.check(urn, {}, { name: "slow", templateId: tplId, timeouts: { create: "soon", read: "1m" }, ...conn(), __provider: vmText });
  expect(bad.failures.map((f) => f.property).sort()).toEqual(["timeouts.create", "timeouts.read"]);
  expect(bad.failures.find((f) => f.property === "timeouts.create")!.reason).toMatch(/must be a duration such as "30s"/);

  const checked = await server.check(urn, {}, { name: "slow", templateId: tplId, cloneMode: "full", timeouts: { create: 0 }, ...conn(), __provider: vmText });
  expect(checked.failures).toEqual([]);
  const err = (await server.create(urn, checked.inputs).catch((e: unknown) => e)) as ProviderCallError;
  expect(err).toBeInstanceOf(ProviderCallError);
  const m = /^CF_JOB_TIMEOUT: cannot create VM "slow": job (\S+) did not finish within 0s; it is still running on the engine \(timeouts\.create is 0s; set it to allow longer\)/.exec(err.details);
  expect(m).not.toBeNull();
  // The job was not cancelled: it finishes and the VM is there (a later update would adopt or replace it; here the test removes it).
  const done = await engine.client.waitJob(m![1]);
  expect(done.state).toBe("succeeded");
  const made = (await engine.client.vms.list()).find((v) => v.name === "slow")!;
  expect(made).toBeDefined();
  await engine.client.vms.delete(made.id);
});

test.each<["Template" | "Fleet", () => Parameters<typeof serializeProvider>[0], () => Record<string, unknown>, RegExp]>([
  ["Template", () => templateProvider, () => ({ name: "slowtpl", datastoreId: dsId, sourcePath: imagePath }), /cannot create template "slowtpl"/],
  ["Fleet", () => fleetProvider, () => ({ templateId: tplId, size: 2, datastoreIds: [dsId], namePrefix: "slowfleet", cloneMode: "full" }), /cannot create fleet of template /],
])("timeouts: a %s whose job outlives timeouts.create fails with CF_JOB_TIMEOUT naming the job, which goes on", async (kind, provider, inputs, action) => {
  const text = (await serializeProvider(provider())).text;
  const urn = urnOf(kind, "slow");
  const checked = await server.check(urn, {}, { ...inputs(), timeouts: { create: 0 }, ...conn(), __provider: text });
  expect(checked.failures).toEqual([]);
  const err = (await server.create(urn, checked.inputs).catch((e: unknown) => e)) as ProviderCallError;
  expect(err).toBeInstanceOf(ProviderCallError);
  expect(err.details).toMatch(action);
  const m = /^CF_JOB_TIMEOUT: .* job (\S+) did not finish within 0s; it is still running on the engine \(timeouts\.create is 0s; set it to allow longer\)/.exec(err.details);
  expect(m).not.toBeNull();
  const done = await engine.client.waitJob(m![1]);
  expect(done.state).toBe("succeeded");
  // Removed here so that the next case starts from the same engine.
  if (kind === "Template") await engine.client.templates.delete((await engine.client.templates.list()).find((t) => t.name === "slowtpl")!.id);
  else await engine.client.fleets.delete((await engine.client.fleets.list()).find((f) => f.name_prefix === "slowfleet")!.id);
});
