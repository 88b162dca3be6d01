import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { PROVIDER_SOURCE } from "../../provider/schema-json";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

// examples/terraform run by the real CLI (terraform, else tofu) through dev_overrides, against
// a real engine. Skipped, saying so, when neither CLI is on PATH.
const cli = ["terraform", "tofu"]
  .map((name) => (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, name)).find((p) => fs.existsSync(p)))
  .find(Boolean);
const suite = cli ? describe : describe.skip;
jest.setTimeout(300_000);

suite(`examples/terraform with the real ${cli ? path.basename(cli) : "terraform/tofu CLI (skipped: neither terraform nor tofu is on PATH)"}`, () => {
  let t: TestEngine;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let vars: string[];

  // Asynchronous on purpose: the engine serves from this same process.
  const run = (...args: string[]) =>
    new Promise<{ status: number; out: string }>((resolve) => {
      execFile(cli!, [...args, "-no-color"], { cwd: work, env, timeout: 240_000 }, (err, stdout, stderr) => {
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` });
      });
    });
  const ok = async (...args: string[]) => {
    const r = await run(...args);
    if (r.status !== 0) throw new Error(`${path.basename(cli!)} ${args.join(" ")} failed (${r.status}):\n${r.out}`);
    return r.out;
  };

  beforeAll(async () => {
    t = await startTestEngine();
    work = path.join(t.dir, "example");
    fs.mkdirSync(work);
    fs.copyFileSync(path.join(PROJECT_ROOT, "examples", "terraform", "main.tf"), path.join(work, "main.tf"));
    const bin = path.join(t.dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "terraform-provider-clonefleet"), `#!/bin/sh\nexec ${JSON.stringify(path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"))} "$@"\n`, { mode: 0o755 });
    const rc = path.join(t.dir, "terraform.rc");
    fs.writeFileSync(rc, `provider_installation {\n  dev_overrides {\n    "${PROVIDER_SOURCE}" = ${JSON.stringify(bin)}\n  }\n  direct {}\n}\n`);
    env = { ...process.env, TF_CLI_CONFIG_FILE: rc, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_LOG: "", TF_VAR_token: t.engine.token!, TF_VAR_endpoint: t.engine.url };
    const image = await makeRawImage(path.join(t.dir, "image.raw"));
    vars = ["-var", `datastore_path=${path.join(t.dir, "ds")}`, "-var", `image_path=${image}`];
  });
  afterAll(() => t.stop());

  test("apply, an empty plan, drift repaired, destroy", async () => {
    expect(await ok("apply", "-auto-approve", ...vars)).toMatch(/2 added, 0 changed, 0 destroyed/);
    const templates = await t.client.templates.list();
    expect(templates.map((x) => x.name)).toEqual(["tiny"]);
    expect((await ok("output", "-raw", "template_content_id")).trim()).toBe(templates[0].content_id);
    expect((await run("plan", "-detailed-exitcode", ...vars)).status).toBe(0);

    await t.client.templates.delete(templates[0].id);
    const drift = await run("plan", "-detailed-exitcode", ...vars);
    expect(drift.status).toBe(2);
    expect(drift.out).toMatch(/clonefleet_template\.tiny will be created/);
    await ok("apply", "-auto-approve", ...vars);
    expect((await t.client.templates.list()).map((x) => x.name)).toEqual(["tiny"]);

    expect(await ok("destroy", "-auto-approve", ...vars)).toMatch(/2 destroyed/);
    expect(await t.client.datastores.list()).toEqual([]);
  });
});
