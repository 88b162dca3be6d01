import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { PROVIDER_SOURCE } from "../../provider/schema-json";
import { startTestEngine, type TestEngine } from "../support/engine";
import { makeEveryResource, type EveryResource } from "../support/every-resource";
import { killAllVms } from "../support/vms";

// `terraform plan -generate-config-out` over import blocks for one object of every resource
// type (three VMs: a template clone, a fork, an instant clone), run by the real CLI through
// dev_overrides against a real engine with real QEMU (TCG). Skipped, saying so, without terraform on PATH.
const cli = (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, "terraform")).find((p) => fs.existsSync(p));
const suite = cli ? describe : describe.skip;
jest.setTimeout(300_000);

suite(`import blocks and -generate-config-out with the real ${cli ? "terraform" : "terraform CLI (skipped: terraform is not on PATH)"}`, () => {
  let t: TestEngine;
  let tmpfsDir: string;
  let ids: EveryResource;
  let work: string;
  let env: NodeJS.ProcessEnv;

  // Asynchronous on purpose: the engine serves from this same process.
  const run = (...args: string[]) =>
    new Promise<{ status: number; out: string }>((resolve) => {
      execFile(cli!, [...args, "-no-color"], { cwd: work, env, timeout: 240_000 }, (err, stdout, stderr) => {
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}` });
      });
    });

  beforeAll(async () => {
    t = await startTestEngine({ engine: { accel: "tcg" } });
    tmpfsDir = t.engine.runner.settings.parentTmpfsDir!;
    ids = await makeEveryResource(t.client, t.dir);
    work = path.join(t.dir, "work");
    fs.mkdirSync(work);
    const bin = path.join(t.dir, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "terraform-provider-clonefleet"), `#!/bin/sh\nexec ${JSON.stringify(path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"))} "$@"\n`, { mode: 0o755 });
    const rc = path.join(t.dir, "terraform.rc");
    fs.writeFileSync(rc, `provider_installation {\n  dev_overrides {\n    "${PROVIDER_SOURCE}" = ${JSON.stringify(bin)}\n  }\n  direct {}\n}\n`);
    env = { ...process.env, TF_CLI_CONFIG_FILE: rc, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_LOG: "" };
  });
  afterAll(async () => {
    if (t) await killAllVms(path.join(t.stateDir, "vms"));
    await t?.stop();
    if (tmpfsDir) fs.rmSync(tmpfsDir, { recursive: true, force: true });
  });

  test("the generated configuration is accepted: the plan only imports, and after the apply it is empty", async () => {
    const imports: [string, string][] = [
      ["clonefleet_datastore.main", ids.datastore],
      ["clonefleet_datastore.other", ids.otherDatastore],
      ["clonefleet_template.tiny", ids.template],
      ["clonefleet_replica.tiny", ids.replica],
      ["clonefleet_disk_pool.main", ids.pool],
      ["clonefleet_fleet.web", ids.fleet],
      ["clonefleet_vm.plain", ids.vm],
      ["clonefleet_vm.fork", ids.fork],
      ["clonefleet_snapshot.nightly", ids.snapshot],
      ["clonefleet_vm.app", ids.parentSource],
      ["clonefleet_instant_clone_parent.base", ids.parent],
      ["clonefleet_vm.clone", ids.instantClone],
    ];
    fs.writeFileSync(
      path.join(work, "main.tf"),
      [
        `terraform {\n  required_providers {\n    clonefleet = { source = "${PROVIDER_SOURCE}" }\n  }\n}`,
        `provider "clonefleet" {\n  endpoint = ${JSON.stringify(t.engine.url)}\n  token    = ${JSON.stringify(t.engine.token)}\n}`,
        ...imports.map(([to, id]) => `import {\n  to = ${to}\n  id = ${JSON.stringify(id)}\n}`),
      ].join("\n\n") + "\n",
    );

    const generate = await run("plan", "-generate-config-out=generated.tf");
    expect({ status: generate.status, out: generate.out }).toMatchObject({ status: 0 });
    expect(generate.out).toMatch(/Plan: 12 to import, 0 to add, 0 to change, 0 to destroy/);
    const generated = fs.readFileSync(path.join(work, "generated.tf"), "utf8");
    // A fork and an instant clone take their disk from their parent: they have no clone mode, datastore or template.
    for (const name of ["fork", "clone"]) {
      const block = new RegExp(`resource "clonefleet_vm" "${name}" \\{([\\s\\S]*?)\\n\\}`).exec(generated)![1];
      for (const attr of ["clone_mode", "datastore_id", "template_id"]) expect(block).toMatch(new RegExp(`\\n\\s*${attr}\\s+= null$`, "m"));
    }

    const validate = await run("validate");
    expect({ status: validate.status, out: validate.out }).toMatchObject({ status: 0 });
    const apply = await run("apply", "-auto-approve");
    expect({ status: apply.status, out: apply.out }).toMatchObject({ status: 0 });
    expect(apply.out).toMatch(/12 imported, 0 added, 0 changed, 0 destroyed/);
    const again = await run("plan", "-detailed-exitcode");
    expect({ status: again.status, out: again.out }).toMatchObject({ status: 0 });
  });
});
