import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { providerSchemaJsonText, PROVIDER_SOURCE } from "../../provider/schema-json";
import { FIXTURE_TOKEN, fixtureProvider } from "./fixtures/test-provider";
import { FIXTURE_ENTRY, requireBuiltFixture, tempStore } from "./fixture";

// The real thing, when it is installed: Terraform itself launches the fixture provider through
// dev_overrides and drives it. Without a terraform binary on PATH these tests are skipped.
const terraformPath = (process.env.PATH ?? "")
  .split(path.delimiter)
  .map((d) => path.join(d, "terraform"))
  .find((p) => fs.existsSync(p));

const suite = terraformPath ? describe : describe.skip;
jest.setTimeout(180_000);

suite(`real Terraform CLI${terraformPath ? "" : " (skipped: no terraform on PATH)"}`, () => {
  let tmp: ReturnType<typeof tempStore>;
  let work: string;
  let env: NodeJS.ProcessEnv;

  const mainTf = (attrs: string) => `
terraform {
  required_providers {
    clonefleet = { source = "clonefleet/clonefleet" }
  }
}
provider "clonefleet" {
  endpoint = ${JSON.stringify(tmp.store)}
  token    = ${JSON.stringify(FIXTURE_TOKEN)}
}
resource "clonefleet_thing" "a" {
${attrs}
}
data "clonefleet_thing_info" "x" {
  id = clonefleet_thing.a.id
}
output "info_name" { value = data.clonefleet_thing_info.x.name }
`;

  function terraform(...args: string[]): { status: number | null; out: string } {
    const r = spawnSync(terraformPath!, [...args, "-no-color"], { cwd: work, env, encoding: "utf8", timeout: 120_000 });
    return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
  }

  function ok(...args: string[]): string {
    const r = terraform(...args);
    if (r.status !== 0) throw new Error(`terraform ${args.join(" ")} failed (${r.status}):\n${r.out}`);
    return r.out;
  }

  const store = () => JSON.parse(fs.readFileSync(tmp.store, "utf8")) as { seq: number; things: Record<string, Record<string, unknown>> };

  beforeAll(() => {
    requireBuiltFixture();
    tmp = tempStore();
    work = path.join(tmp.dir, "work");
    const bin = path.join(tmp.dir, "bin");
    fs.mkdirSync(work);
    fs.mkdirSync(bin);
    const exe = path.join(bin, "terraform-provider-clonefleet");
    fs.writeFileSync(exe, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(FIXTURE_ENTRY)} "$@"\n`, { mode: 0o755 });
    const rc = path.join(tmp.dir, "terraform.rc");
    fs.writeFileSync(rc, `provider_installation {\n  dev_overrides {\n    "${PROVIDER_SOURCE}" = ${JSON.stringify(bin)}\n  }\n  direct {}\n}\n`);
    env = { ...process.env, TF_CLI_CONFIG_FILE: rc, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_LOG: "" };
  });
  afterAll(() => tmp.cleanup());

  const base = `  name          = "a"
  size          = 0.1
  tags          = { env = "test" }
  labels        = ["y", "x"]
  datastore_ids = ["ds-1", "ds-2"]`;

  test("apply creates, and the next plan is empty", () => {
    fs.writeFileSync(path.join(work, "main.tf"), mainTf(base));
    expect(ok("validate")).toMatch(/configuration is valid/);
    expect(ok("apply", "-auto-approve")).toMatch(/1 added, 0 changed, 0 destroyed[\s\S]*info_name = "a"/);
    expect(terraform("plan", "-detailed-exitcode").status).toBe(0);
  });

  test("update in place, then an empty plan", () => {
    fs.writeFileSync(path.join(work, "main.tf"), mainTf(base.replace("0.1", "2")));
    expect(ok("apply", "-auto-approve")).toMatch(/0 added, 1 changed, 0 destroyed/);
    expect(terraform("plan", "-detailed-exitcode").status).toBe(0);
    expect(Object.values(store().things)[0]).toMatchObject({ size: 2, revision: 2 });
  });

  test("a replace attribute forces replacement", () => {
    fs.writeFileSync(path.join(work, "main.tf"), mainTf(base.replace('"a"', '"b"').replace("0.1", "2")));
    const out = ok("apply", "-auto-approve");
    expect(out).toMatch(/name += "a" -> "b" # forces replacement/);
    expect(out).toMatch(/1 added, 0 changed, 1 destroyed/);
    expect(terraform("plan", "-detailed-exitcode").status).toBe(0);
  });

  test("import by id, then an empty plan", () => {
    ok("state", "rm", "clonefleet_thing.a");
    const id = Object.keys(store().things)[0];
    expect(ok("import", "clonefleet_thing.a", id)).toMatch(/Import successful/);
    expect(terraform("plan", "-detailed-exitcode").status).toBe(0);
  });

  test("an object removed outside Terraform is planned for creation", () => {
    const data = store();
    data.things = {};
    fs.writeFileSync(tmp.store, JSON.stringify(data));
    const out = terraform("plan", "-detailed-exitcode");
    expect(out.status).toBe(2);
    expect(out.out).toMatch(/has been deleted[\s\S]*will be created/);
  });

  test("diagnostics point at the attribute in the configuration", () => {
    fs.writeFileSync(path.join(work, "main.tf"), mainTf(base.replace('["ds-1", "ds-2"]', '["ds-1", ""]')));
    const out = terraform("validate");
    expect(out.status).toBe(1);
    expect(out.out).toMatch(/Error: Invalid datastore id[\s\S]*datastore_ids = \["ds-1", ""\]/);
  });

  test("`terraform providers schema -json` prints exactly what schema-json produces", () => {
    fs.writeFileSync(path.join(work, "main.tf"), mainTf(base));
    const printed = ok("providers", "schema", "-json").split("\n").find((l) => l.startsWith("{"))!;
    expect(printed).toBe(providerSchemaJsonText(fixtureProvider));
  });

  test("destroy removes everything", () => {
    expect(ok("destroy", "-auto-approve")).toMatch(/Destroy complete/);
    expect(store().things).toEqual({});
  });
});
