import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { PROVIDER_SOURCE } from "../../provider/schema-json";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

// `cdktf deploy` / `cdktf destroy` on examples/cdktf with the real CDKTF CLI (and Terraform
// under it). Skipped, saying so, when the cdktf CLI is not on PATH.
const onPath = (name: string) => (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, name)).find((p) => fs.existsSync(p));
const cdktf = onPath("cdktf");
const suite = cdktf && onPath("terraform") ? describe : describe.skip;
jest.setTimeout(600_000);

suite(`examples/cdktf with the real cdktf CLI${cdktf ? "" : " (skipped: no cdktf on PATH)"}`, () => {
  let t: TestEngine;
  let env: NodeJS.ProcessEnv;
  const run = (...args: string[]) =>
    new Promise<{ status: number; out: string }>((resolve) => {
      execFile(cdktf!, args, { cwd: path.join(PROJECT_ROOT, "examples", "cdktf"), env, timeout: 500_000 }, (err, stdout, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` }),
      );
    });

  beforeAll(async () => {
    t = await startTestEngine();
    const bin = path.join(t.dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "terraform-provider-clonefleet"), `#!/bin/sh\nexec ${JSON.stringify(path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"))} "$@"\n`, { mode: 0o755 });
    const rc = path.join(t.dir, "terraform.rc");
    fs.writeFileSync(rc, `provider_installation {\n  dev_overrides {\n    "${PROVIDER_SOURCE}" = ${JSON.stringify(bin)}\n  }\n  direct {}\n}\n`);
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
  afterAll(() => t.stop());

  test("deploy, then destroy", async () => {
    const deploy = await run("deploy", "--auto-approve");
    expect(deploy.status).toBe(0);
    expect((await t.client.templates.list()).map((x) => x.name)).toEqual(["tiny"]);
    expect((await t.client.replicas.list()).map((x) => x.state)).toEqual(["ready"]);
    const destroy = await run("destroy", "--auto-approve");
    expect(destroy.status).toBe(0);
    expect(await t.client.datastores.list()).toEqual([]);
  });
});
