import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ENGINE_VERSION, PROJECT_ROOT } from "../../engine/version";
import { PROVIDER_SOURCE } from "../../provider/schema-json";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { killAllVms } from "../support/vms";

// examples/cdktf run as its README says, through its own npm scripts and its pinned cdktf-cli,
// with the provider in a filesystem mirror and no registry: synth, deploy, diff (no changes)
// and destroy against a real engine with real QEMU (TCG). Skipped, saying so, without
// terraform on PATH or before `npm ci` in examples/cdktf.
const EXAMPLE = path.join(PROJECT_ROOT, "examples", "cdktf");
const terraform = (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "terraform")).find((p) => fs.existsSync(p));
const cdktf = path.join(EXAMPLE, "node_modules", ".bin", "cdktf");
const missing = !terraform ? "terraform is not on PATH" : !fs.existsSync(cdktf) ? "examples/cdktf has no node_modules: run `npm ci` there" : "";
const suite = missing ? describe.skip : describe;
jest.setTimeout(600_000);

suite(`examples/cdktf with its own cdktf-cli and a filesystem mirror${missing ? ` (skipped: ${missing})` : ""}`, () => {
  let t: TestEngine;
  let tmpfsDir: string | undefined;
  let env: NodeJS.ProcessEnv;
  let out: string;
  // The local backend keeps the state beside the project; the test removes what it made.
  const stateFiles = ["terraform.clonefleet-example.tfstate", "terraform.clonefleet-example.tfstate.backup"].map((f) => path.join(EXAMPLE, f));
  const hadState = stateFiles.map((f) => fs.existsSync(f));
  const npmRun = (script: string) =>
    new Promise<{ status: number; out: string }>((resolve) => {
      execFile("npm", ["run", script, "--", "--output", out], { cwd: EXAMPLE, env, timeout: 500_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` }),
      );
    });
  const ok = async (script: string) => {
    const r = await npmRun(script);
    if (r.status !== 0) throw new Error(`npm run ${script} failed (${r.status}):\n${r.out}`);
    return r.out;
  };

  beforeAll(async () => {
    t = await startTestEngine({ engine: { accel: "tcg" } });
    tmpfsDir = t.engine.runner.settings.parentTmpfsDir;
    out = path.join(t.dir, "cdktf.out");
    // The layout `npm run package:provider` makes, built here so that the test owns it.
    const platform = `linux_${process.arch === "arm64" ? "arm64" : "amd64"}`;
    const mirror = path.join(t.dir, "mirror");
    const pkg = path.join(mirror, "registry.terraform.io", "clonefleet", "clonefleet", ENGINE_VERSION, platform);
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, `terraform-provider-clonefleet_v${ENGINE_VERSION}`), `#!/bin/sh\nexec ${JSON.stringify(path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"))} "$@"\n`, { mode: 0o755 });
    const rc = path.join(t.dir, "terraform.rc");
    fs.writeFileSync(
      rc,
      `provider_installation {\n  filesystem_mirror {\n    path    = ${JSON.stringify(mirror)}\n    include = ["${PROVIDER_SOURCE}"]\n  }\n` +
        `  direct {\n    exclude = ["${PROVIDER_SOURCE}"]\n  }\n}\n`,
    );
    env = {
      ...process.env,
      TF_CLI_CONFIG_FILE: rc,
      CHECKPOINT_DISABLE: "1",
      TF_VAR_token: t.engine.token!,
      TF_VAR_endpoint: t.engine.url,
      CLONEFLEET_DATASTORE_PATH: path.join(t.dir, "ds"),
      CLONEFLEET_IMAGE_PATH: await makeRawImage(path.join(t.dir, "image.raw")),
    };
  });
  afterAll(async () => {
    stateFiles.forEach((f, i) => {
      if (!hadState[i]) fs.rmSync(f, { force: true });
    });
    if (t) await killAllVms(path.join(t.stateDir, "vms"));
    await t?.stop();
    if (tmpfsDir) fs.rmSync(tmpfsDir, { recursive: true, force: true });
  });

  test("synth writes the provider with a version; deploy, an empty diff, destroy", async () => {
    await ok("synth");
    const stack = JSON.parse(fs.readFileSync(path.join(out, "stacks", "clonefleet-example", "cdk.tf.json"), "utf8")) as {
      terraform: { required_providers: Record<string, { source: string; version?: string }> };
    };
    expect(stack.terraform.required_providers.clonefleet).toEqual({ source: PROVIDER_SOURCE, version: expect.stringMatching(/^~> \d+\.\d+$/) });

    await ok("deploy");
    expect((await t.client.templates.list()).map((x) => x.name)).toEqual(["tiny"]);
    expect((await t.client.replicas.list()).map((x) => x.state)).toEqual(["ready"]);
    expect((await t.client.parents.list()).map((p) => p.state)).toEqual(["ready"]);
    // The lock file comes from the mirror (terraform init), not from the registry.
    expect(fs.readFileSync(path.join(out, "stacks", "clonefleet-example", ".terraform.lock.hcl"), "utf8")).toContain(`provider "${PROVIDER_SOURCE}"`);

    expect(await ok("diff")).toMatch(/No changes|no differences, so no changes are needed/);

    await ok("destroy");
    expect(await t.client.vms.list()).toEqual([]);
    expect(await t.client.datastores.list()).toEqual([]);
  });
});
