import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { buildProviderBundle, type ProviderBundle } from "../../provider/bundle/build";
import { startTestEngine, type TestEngine } from "../support/engine";
import { LaunchError, ProviderProcess, TerraformWalk, diagnosticField, type LaunchOptions } from "./driver";

// The packaged provider is the esbuild bundle run through its code cache (scripts/package-provider.sh):
// built here from the sources into a temporary folder, it must serve what the unbundled provider
// serves, reach an engine (the HTTP client is loaded lazily inside the bundle), and start without its cache.
jest.setTimeout(180_000);

const UNBUNDLED: LaunchOptions = { command: path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"), args: [] };

describe("the one-file provider bundle", () => {
  let dir: string;
  let built: ProviderBundle;
  let t: TestEngine;
  const bundled = (): LaunchOptions => ({ command: process.execPath, args: [built.launcher] });

  beforeAll(async () => {
    if (!fs.existsSync(path.join(PROJECT_ROOT, "dist", "provider", "main.js"))) {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cf-bundle-test-"));
    built = await buildProviderBundle(path.join(dir, "bundle"));
    t = await startTestEngine();
  });
  afterEach(() => ProviderProcess.stopAll());
  afterAll(async () => {
    await t?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("is one file, with its code cache, and needs nothing from node_modules", () => {
    const files = fs.readdirSync(path.dirname(built.launcher)).sort();
    expect(files).toEqual(["provider.js", "provider.js.cache", "provider.js.map", "terraform-provider-clonefleet.js"]);
    expect(fs.statSync(built.codeCache).size).toBeGreaterThan(0);
    // Copied away from the checkout, it still starts: every import was bundled.
    const away = path.join(dir, "away");
    fs.mkdirSync(away);
    for (const f of files) fs.copyFileSync(path.join(path.dirname(built.launcher), f), path.join(away, f));
    return ProviderProcess.launch({ command: process.execPath, args: [path.join(away, "terraform-provider-clonefleet.js")] }).then(async (p) => {
      expect(await p.health()).toBe("SERVING");
      await p.shutdown();
      await p.stop();
    });
  });

  test("completes the handshake and answers GetProviderSchema as the unbundled provider does", async () => {
    const [a, b] = await Promise.all([ProviderProcess.launch(bundled()), ProviderProcess.launch(UNBUNDLED)]);
    expect(a.handshake.protocolVersion).toBe(6);
    expect(a.handshake.serverCertDer).toBeDefined();
    const [sa, sb] = await Promise.all([a.getProviderSchema(), b.getProviderSchema()]);
    expect(Object.keys(sa.resources).sort()).toEqual(Object.keys(sb.resources).sort());
    expect(Object.keys(sa.resources)).toContain("clonefleet_vm");
    expect(sa).toEqual(sb);
    for (const p of [a, b]) {
      expect(await p.shutdown()).toEqual({ code: 0, signal: null });
      await p.stop();
    }
  });

  test("configures against a real engine, creates and destroys a datastore, and names a bad attribute", async () => {
    const walk = new TerraformWalk(bundled());
    const dsPath = path.join(t.dir, "ds");
    const config = { provider: { endpoint: t.engine.url, token: t.engine.token }, resources: { "clonefleet_datastore.local": { name: "local", path: dsPath } } };
    await walk.applyConfig(config);
    const id = String(walk.stateOf("clonefleet_datastore.local")!.id);
    expect((await t.client.datastores.get(id))?.path).toBe(dsPath);
    const bad = await walk.validate({ ...config, resources: { "clonefleet_datastore.local": { name: "local", path: "relative" } } });
    expect(bad.map(diagnosticField)).toEqual(["path"]);
    await walk.destroy(config);
    expect(await t.client.datastores.get(id)).toBeNull();
  });

  test("a wrong token is one clear configuration error from the bundle too", async () => {
    const p = await ProviderProcess.launch(bundled());
    const diags = await p.configure({ endpoint: t.engine.url, token: "wrong" });
    expect(diags.map((d) => [d.summary, diagnosticField(d)])).toEqual([["Invalid clonefleet token", "token"]]);
    await p.shutdown();
    await p.stop();
  });

  test("starts without its code cache (as after a node upgrade) and refuses to run outside Terraform", async () => {
    fs.rmSync(built.codeCache);
    const p = await ProviderProcess.launch(bundled());
    expect(Object.keys((await p.getProviderSchema()).resources)).toContain("clonefleet_vm");
    await p.shutdown();
    await p.stop();
    const err = await ProviderProcess.launch({ ...bundled(), magicCookie: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stderr).toMatch(/plugin to be run by Terraform/);
    expect(fs.existsSync(built.codeCache)).toBe(false);
  });
});
