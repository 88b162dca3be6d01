/**
 * The rule book seen from both faces: the Terraform provider through the plugin protocol (one
 * provider process per step, as Terraform runs it) and the Pulumi package through the SDK's
 * dynamic-provider gRPC server, against one real engine. The same bad input gives the same
 * message on both (in each face's attribute naming), and an id the engine does not know fails
 * at plan and at check instead of at apply, with nothing made.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { vmProvider } from "../../pulumi";
import { importTemplate } from "../support/clones";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { DiagnosticsError, diagnosticField, TerraformWalk } from "../protocol/driver";
import { DynamicProviderProcess, makeProjectDirs, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "../pulumi/support/provider-host";

jest.setTimeout(120_000);

type Props = Record<string, unknown>;
const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

let engine: TestEngine;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
let vmText = "";
let tplId = "";
const walk = new TerraformWalk({ command: path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"), args: [] });

const provider = () => ({ endpoint: engine.engine.url, token: engine.engine.token });
const conn = () => ({ endpoint: engine.engine.url, token: engine.engine.token! });
/** A Terraform VM configuration as Pulumi inputs: camelCase keys. */
const asPulumi = (config: Props): Props => Object.fromEntries(Object.entries(config).map(([k, v]) => [camel(k), v]));

/** Terraform's messages as "<attribute> <reason>." and Pulumi's check failures written the same way, attribute names in camelCase. */
const terraformMessages = (diags: { detail?: string }[]) => diags.map((d) => camel(d.detail ?? "")).sort();
const pulumiMessages = (failures: { property: string; reason: string }[]) => failures.map((f) => `${f.property} ${f.reason}.`).sort();

beforeAll(async () => {
  await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
    throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
  });
  engine = await startTestEngine();
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  vmText = (await serializeProvider(vmProvider)).text;
  const image = await makeRawImage(path.join(engine.dir, "image.raw"), 4);
  const ds = await engine.client.datastores.create({ name: "a", path: path.join(engine.dir, "a") });
  tplId = (await importTemplate(engine.client, "tiny", ds.id, image)).id;
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  await engine?.stop();
});

test.each([
  ["a fork that also names a template and a clone mode", { name: "child", fork_of: "vm-1", template_id: "tpl-1", clone_mode: "full" }],
  ["an instant clone without power_state, on a datastore", { name: "c", instant_clone_of: "p-1", datastore_id: "ds-1" }],
  ["a VM with no source and bad values", { name: "a/b", clone_mode: "thin", stop_timeout_seconds: 4000, migration_on_missing_ack: "maybe" }],
])("%s: both faces refuse it with the same messages", async (_what, config) => {
  const diags = await walk.validate({ provider: provider(), resources: { "clonefleet_vm.bad": config } });
  const checked = await server.check(urnOf("Vm", "bad"), {}, { ...asPulumi(config), ...conn(), __provider: vmText });
  expect(diags.length).toBeGreaterThan(0);
  expect(pulumiMessages(checked.failures)).toEqual(terraformMessages(diags));
  expect(checked.failures.map((f) => f.property).sort()).toEqual(diags.map((d) => camel(diagnosticField(d) ?? "")).sort());
});

test("a template id the engine does not know fails at plan and at check, naming the attribute, and nothing is made", async () => {
  const config = { name: "web", template_id: "tpl-nope" };
  // Validate cannot know (it has no engine); the plan asks the engine.
  expect(await walk.validate({ provider: provider(), resources: { "clonefleet_vm.web": config } })).toEqual([]);
  const planned = await walk.plan({ provider: provider(), resources: { "clonefleet_vm.web": config } }).then(
    () => null,
    (err: unknown) => err,
  );
  expect(planned).toBeInstanceOf(DiagnosticsError);
  const diags = (planned as DiagnosticsError).diagnostics;
  expect(diags).toEqual([expect.objectContaining({ severity: "error", summary: "Unknown template" })]);
  expect(diagnosticField(diags[0])).toBe("template_id");
  expect(diags[0].detail).toContain('names no template on the engine at');
  expect(diags[0].detail).toContain('"tpl-nope"');

  const checked = await server.check(urnOf("Vm", "web"), {}, { ...asPulumi(config), ...conn(), __provider: vmText });
  expect(pulumiMessages(checked.failures)).toEqual(terraformMessages(diags));
  expect(await engine.client.vms.list()).toEqual([]);

  // The template that exists plans and checks clean.
  const good = { name: "web", template_id: tplId };
  const plan = await walk.plan({ provider: provider(), resources: { "clonefleet_vm.web": good } });
  expect(plan.changes.map((c) => c.action)).toEqual(["create"]);
  expect((await server.check(urnOf("Vm", "web"), {}, { ...asPulumi(good), ...conn(), __provider: vmText })).failures).toEqual([]);
});

test("unknown hosts and datastores fail at plan too; an id not known yet waits for the apply", async () => {
  const config = { name: "web", template_id: tplId, host_id: "nowhere", datastore_id: "ds-nope" };
  const planned = (await walk.plan({ provider: provider(), resources: { "clonefleet_vm.web": config } }).catch((err: unknown) => err)) as DiagnosticsError;
  expect(planned).toBeInstanceOf(DiagnosticsError);
  expect(planned.diagnostics.map((d) => [d.summary, diagnosticField(d)]).sort()).toEqual([
    ["Unknown datastore", "datastore_id"],
    ["Unknown host", "host_id"],
  ]);
  const checked = await server.check(urnOf("Vm", "web"), {}, { ...asPulumi(config), ...conn(), __provider: vmText });
  expect(pulumiMessages(checked.failures)).toEqual(terraformMessages(planned.diagnostics));
  // During preview an id made in the same update is not known yet: nothing to look up.
  const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
  expect((await server.check(urnOf("Vm", "web"), {}, { name: "web", templateId: UNKNOWN, ...conn(), __provider: vmText })).failures).toEqual([]);
});

test("Pulumi check with the engine down judges the inputs only: the operation that needs the engine reports it", async () => {
  const down = { endpoint: "http://127.0.0.1:9", token: "t" };
  expect((await server.check(urnOf("Vm", "web"), {}, { name: "web", templateId: "tpl-nope", ...down, __provider: vmText })).failures).toEqual([]);
});
