import { promises as fs } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { DiagnosticsError, TerraformWalk, diagnosticField, type Configuration, type LaunchOptions } from "./driver";

jest.setTimeout(180_000);

/** The shipped executable, started as Terraform starts it. */
const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");
const launch = (): LaunchOptions => ({ command: PROVIDER_BIN, args: [] });

const DS = "clonefleet_datastore.local";
const TPL = "clonefleet_template.tiny";
const CHAIN = "clonefleet_disk_chain.tiny";

describe("the clonefleet provider through the plugin protocol, against a real engine", () => {
  let t: TestEngine;
  let image: string;
  let dsPath: string;
  const walk = new TerraformWalk(launch());
  const provider = () => ({ endpoint: t.engine.url, token: t.engine.token });
  const actions = (plan: { changes: { address: string; action: string }[] }) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  let dsId = "";
  const config = (tpl?: Record<string, unknown>, data?: Configuration["data"]): Configuration => ({
    provider: provider(),
    resources: {
      [DS]: { name: "local", path: dsPath },
      ...(tpl ? { [TPL]: { name: "tiny", datastore_id: dsId, source_path: image, ...tpl } } : {}),
    },
    data,
  });

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    t = await startTestEngine();
    dsPath = path.join(t.dir, "ds");
    image = await makeRawImage(path.join(t.dir, "image.raw"));
  });
  afterAll(() => t.stop());

  test("validate names every bad attribute", async () => {
    const diags = await walk.validate({
      provider: provider(),
      resources: {
        [DS]: { name: "bad/name", path: "relative" },
        [TPL]: { name: "ok", datastore_id: "ds-x", source_path: image, memory_mb: 1, vcpus: 0, cmdline: "quiet" },
      },
    });
    expect(diags.map(diagnosticField).sort()).toEqual(["cmdline", "memory_mb", "name", "path", "vcpus"]);
  });

  test("create a datastore: id unknown in the plan, known after apply; its space is read by data.clonefleet_datastore, not kept in state", async () => {
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [DS]: "create" });
    expect(plan.changes[0].planned.getAttr("id").isKnown()).toBe(false);
    await walk.apply(plan);
    const state = walk.stateOf(DS)!;
    dsId = state.id as string;
    expect(state).toMatchObject({ name: "local", path: dsPath });
    expect(state).not.toHaveProperty("free_bytes");
    expect((await t.client.datastores.get(dsId))?.name).toBe("local");
    const space = await walk.plan({ ...config(), data: { "clonefleet_datastore.by_id": { id: dsId }, "clonefleet_datastore.by_name": { name: "local" } } });
    for (const address of ["clonefleet_datastore.by_id", "clonefleet_datastore.by_name"]) {
      expect(space.data[address]).toMatchObject({ id: dsId, name: "local", path: dsPath, reachable: true });
      const d = space.data[address] as { free_bytes: number; total_bytes: number };
      expect(d.free_bytes).toBeGreaterThan(0);
      expect(d.total_bytes).toBeGreaterThanOrEqual(d.free_bytes);
    }
  });

  test("import a template (a job) and read its chain through the data source", async () => {
    const plan = await walk.applyConfig(config({ memory_mb: 512, timeouts: { create: "5m" } }));
    expect(actions(plan)).toEqual({ [DS]: "no-op", [TPL]: "create" });
    const tpl = walk.stateOf(TPL)!;
    expect(tpl).toMatchObject({ name: "tiny", datastore_id: dsId, source_path: image, memory_mb: 512, vcpus: 1, kernel: null });
    expect(tpl.content_id).toMatch(/^[0-9a-f]{32}$/);
    const engineView = await t.client.templates.get(tpl.id as string);
    expect(engineView?.content_id).toBe(tpl.content_id);

    const withData = await walk.plan(config({ memory_mb: 512, timeouts: { create: "5m" } }, { [CHAIN]: { path: tpl.disk_path } }));
    expect(actions(withData)).toEqual({ [DS]: "no-op", [TPL]: "no-op" });
    expect(withData.data[CHAIN]).toMatchObject({ depth: 1, layers: [{ path: tpl.disk_path, content_id: tpl.content_id, backing_path: null, format: "qcow2" }] });
  });

  test("a plan with no outside change is empty", async () => {
    expect(actions(await walk.plan(config({ memory_mb: 512, timeouts: { create: "5m" } })))).toEqual({ [DS]: "no-op", [TPL]: "no-op" });
  });

  test("changing an attribute that cannot change in place replaces the template", async () => {
    const before = walk.stateOf(TPL)!.id;
    const plan = await walk.plan(config({ memory_mb: 1024, timeouts: { create: "5m" } }));
    expect(actions(plan)).toEqual({ [DS]: "no-op", [TPL]: "replace" });
    expect(plan.changes.find((c) => c.address === TPL)!.requiresReplace).toEqual([[{ attribute: "memory_mb" }]]);
    await walk.apply(plan);
    const after = walk.stateOf(TPL)!;
    expect(after.id).not.toBe(before);
    expect(after.memory_mb).toBe(1024);
    expect(await t.client.templates.get(before as string)).toBeNull();
  });

  test("import by id reproduces the state and the next plan is empty", async () => {
    const other = new TerraformWalk(launch());
    const cfg = config({ memory_mb: 1024 });
    await other.importResource(cfg, DS, dsId);
    await other.importResource(cfg, TPL, walk.stateOf(TPL)!.id as string);
    const { timeouts: _ignored, ...expected } = walk.stateOf(TPL)!;
    expect(other.stateOf(TPL)).toMatchObject(expected);
    expect(actions(await other.plan(cfg))).toEqual({ [DS]: "no-op", [TPL]: "no-op" });
  });

  test("drift: a template deleted outside Terraform is planned again and recreated", async () => {
    await t.client.templates.delete(walk.stateOf(TPL)!.id as string);
    const plan = await walk.plan(config({ memory_mb: 1024, timeouts: { create: "5m" } }));
    expect(actions(plan)).toEqual({ [DS]: "no-op", [TPL]: "create" });
    await walk.apply(plan);
    expect((await t.client.templates.list()).map((x) => x.name)).toEqual(["tiny"]);
  });

  test("drift: a template whose disk vanished is planned again and recreated under its name", async () => {
    await fs.rm(walk.stateOf(TPL)!.disk_path as string);
    const plan = await walk.plan(config({ memory_mb: 1024, timeouts: { create: "5m" } }));
    expect(actions(plan)).toEqual({ [DS]: "no-op", [TPL]: "create" });
    await walk.apply(plan);
    const templates = await t.client.templates.list();
    expect(templates.map((x) => [x.name, x.state])).toEqual([["tiny", "ready"]]);
    await fs.access(templates[0].disk_path);
  });

  test("engine refusals reach the user naming the attribute, and nothing enters state", async () => {
    const text = path.join(t.dir, "notes.txt");
    await fs.writeFile(text, "not a disk\n");
    const other = new TerraformWalk(launch());
    const err = await other
      .applyConfig({ provider: provider(), resources: { "clonefleet_template.bad": { name: "bad", datastore_id: dsId, source_path: text } } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    const diag = (err as DiagnosticsError).diagnostics[0];
    expect(diagnosticField(diag)).toBe("source_path");
    expect(diag.summary).toBe("Cannot create clonefleet_template");
    expect(diag.detail).toMatch(/not a disk image/i);
    expect(other.state.size).toBe(0);
    const unknownDs = await new TerraformWalk(launch())
      .applyConfig({ provider: provider(), resources: { "clonefleet_template.bad": { name: "bad2", datastore_id: "ds-0000000000000000", source_path: image } } })
      .catch((e: unknown) => e);
    expect((unknownDs as DiagnosticsError).diagnostics.map(diagnosticField)).toEqual(["datastore_id"]);
  });

  test("a wrong token or an unreachable engine is one configuration error naming the attribute", async () => {
    const bad = await new TerraformWalk(launch()).plan({ ...config(), provider: { endpoint: t.engine.url, token: "wrong" } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(DiagnosticsError);
    expect((bad as DiagnosticsError).diagnostics).toEqual([expect.objectContaining({ summary: "Invalid clonefleet token" })]);
    expect((bad as DiagnosticsError).diagnostics.map(diagnosticField)).toEqual(["token"]);
    const down = await new TerraformWalk(launch()).plan({ ...config(), provider: { endpoint: "http://127.0.0.1:1", token: "x" } }).catch((e: unknown) => e);
    expect((down as DiagnosticsError).diagnostics).toEqual([expect.objectContaining({ summary: "Cannot reach the clonefleet engine" })]);
    expect((down as DiagnosticsError).diagnostics.map(diagnosticField)).toEqual(["endpoint"]);
  });

  test("destroy removes everything, and the token never reached a provider log", async () => {
    const plan = await walk.destroy(config({ memory_mb: 1024, timeouts: { create: "5m" } }));
    expect(actions(plan)).toEqual({ [DS]: "delete", [TPL]: "delete" });
    expect(await t.client.templates.list()).toEqual([]);
    expect(await t.client.datastores.list()).toEqual([]);
    for (const err of walk.stderr) expect(err).not.toContain(t.engine.token!);
  });
});
