import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Testing, TerraformStack } from "cdktf";
import { PROJECT_ROOT } from "../../engine/version";
import { bindingsDir, generateBindings, readTree } from "../../provider/cdktf/generate";
import { TemplateLibrary } from "../../provider/cdktf";
import { providerSchemaJson } from "../../provider/schema-json";
import { clonefleetProvider } from "../../provider/provider";
import { ClonefleetExample } from "../../examples/cdktf/stack";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { TerraformWalk, type Configuration } from "../protocol/driver";

jest.setTimeout(180_000);

interface Synthesized {
  provider?: Record<string, Record<string, unknown>[]>;
  resource?: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
  variable?: Record<string, unknown>;
}

const schema = Object.values(providerSchemaJson(clonefleetProvider).provider_schemas)[0];
const synthExample = (settings = { datastorePath: "/srv/cf/example", imagePath: "/images/tiny.raw" }): Synthesized => {
  const app = Testing.app();
  const stack = new ClonefleetExample(app, "example", settings);
  return JSON.parse(Testing.synth(stack, true)) as Synthesized;
};

describe("CDKTF bindings", () => {
  test("the committed bindings are what the generator makes from the current schema", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "cf-cdktf-"));
    try {
      await generateBindings(tmp);
      const fresh = readTree(tmp);
      const committed = readTree(bindingsDir(PROJECT_ROOT));
      const stale = [...new Set([...fresh.keys(), ...committed.keys()])].filter((f) => fresh.get(f) !== committed.get(f));
      if (stale.length > 0) throw new Error(`provider/cdktf/gen is out of step with the provider schema (${stale.join(", ")}): run \`npm run generate\``);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe("synthesizing the example", () => {
  test("declares the provider, two datastores, a template, its replica and the chain data source", () => {
    const out = synthExample();
    expect(Object.keys(out.provider ?? {})).toEqual(["clonefleet"]);
    const datastores = Object.entries(out.resource?.clonefleet_datastore ?? {});
    const templates = Object.entries(out.resource?.clonefleet_template ?? {});
    const replicas = Object.values(out.resource?.clonefleet_replica ?? {});
    expect(datastores.map(([, d]) => d)).toEqual([
      expect.objectContaining({ name: "local", path: "/srv/cf/example" }),
      expect.objectContaining({ name: "replicas", path: "/srv/cf/example-replica" }),
    ]);
    expect(templates.map(([, t]) => t)).toEqual([expect.objectContaining({ name: "tiny", source_path: "/images/tiny.raw", memory_mb: 256, vcpus: 1 })]);
    expect(templates[0][1].datastore_id).toBe(`\${clonefleet_datastore.${datastores[0][0]}.id}`);
    expect(replicas).toEqual([
      expect.objectContaining({
        template_id: `\${clonefleet_template.${templates[0][0]}.id}`,
        target_datastore_id: `\${clonefleet_datastore.${datastores[1][0]}.id}`,
        timeouts: { create: "20m", update: "20m" },
      }),
    ]);
    expect(replicas[0]).not.toHaveProperty("in_sync");
    expect(Object.keys(out.data?.clonefleet_disk_chain ?? {})).toHaveLength(1);
  });

  test("every type and attribute it uses exists in the provider schema", () => {
    const out = synthExample();
    const problems: string[] = [];
    const meta = new Set(["//", "provider", "depends_on", "count", "for_each", "lifecycle", "timeouts"]);
    const checkBlock = (kind: string, schemas: Record<string, { block: { attributes?: Record<string, unknown> } }> | undefined, body: Synthesized["resource"]) => {
      for (const [type, instances] of Object.entries(body ?? {})) {
        const s = schemas?.[type];
        if (!s) {
          problems.push(`${kind} type ${type} is not in the schema`);
          continue;
        }
        for (const [name, attrs] of Object.entries(instances)) {
          for (const attr of Object.keys(attrs)) if (!meta.has(attr) && !(attr in (s.block.attributes ?? {}))) problems.push(`${type}.${name}.${attr} is not in the schema`);
        }
      }
    };
    checkBlock("resource", schema.resource_schemas, out.resource);
    checkBlock("data source", schema.data_source_schemas, out.data);
    for (const cfg of out.provider?.clonefleet ?? []) {
      for (const attr of Object.keys(cfg)) if (!(attr in (schema.provider.block.attributes ?? {}))) problems.push(`provider.${attr} is not in the schema`);
    }
    expect(problems).toEqual([]);
  });

  test("a TemplateLibrary with bad props fails at synth time naming each prop", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "bad");
    new TemplateLibrary(stack, "lib", {
      datastoreName: "bad/name",
      datastorePath: "relative/dir",
      images: { "ok-name": { sourcePath: "image.raw", memoryMb: 1 }, "also..bad": { sourcePath: "/x.raw", cmdline: "quiet" } },
    });
    let message = "";
    try {
      Testing.synth(stack, true);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const words of ["datastoreName", "datastorePath", 'images["ok-name"].sourcePath', 'images["ok-name"].memoryMb', 'images["also..bad"] name', "without kernel"]) {
      expect(message).toContain(words);
    }
  });
});

describe("the synthesized configuration, applied through the provider protocol", () => {
  let t: TestEngine;
  beforeAll(async () => {
    t = await startTestEngine();
  });
  afterAll(() => t.stop());

  test("creates what the stack declares in a real engine, then destroys it", async () => {
    const image = await makeRawImage(path.join(t.dir, "image.raw"));
    const out = synthExample({ datastorePath: path.join(t.dir, "ds"), imagePath: image });
    const [[dsAddr, dsAttrs], [replicaDsAddr, replicaDsAttrs]] = Object.entries(out.resource!.clonefleet_datastore);
    const [tplAddr, tplAttrs] = Object.entries(out.resource!.clonefleet_template)[0];
    const [replicaAddr, replicaAttrs] = Object.entries(out.resource!.clonefleet_replica)[0];
    const providerCfg = { endpoint: t.engine.url, token: t.engine.token };
    const walk = new TerraformWalk({ command: path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet"), args: [] });

    // The driver does not follow references: apply in dependency order and fill them in.
    const strip = ({ provider: _p, "//": _c, ...rest }: Record<string, unknown>) => rest;
    const first: Configuration = {
      provider: providerCfg,
      resources: { [`clonefleet_datastore.${dsAddr}`]: strip(dsAttrs), [`clonefleet_datastore.${replicaDsAddr}`]: strip(replicaDsAttrs) },
    };
    await walk.applyConfig(first);
    const dsId = walk.stateOf(`clonefleet_datastore.${dsAddr}`)!.id as string;
    const replicaDsId = walk.stateOf(`clonefleet_datastore.${replicaDsAddr}`)!.id as string;
    const tpl = { ...strip(tplAttrs), datastore_id: dsId };
    const withTemplate: Configuration = { provider: providerCfg, resources: { ...first.resources, [`clonefleet_template.${tplAddr}`]: tpl } };
    await walk.applyConfig(withTemplate);
    expect((await t.client.templates.list()).map((x) => [x.name, x.datastore_id])).toEqual([["tiny", dsId]]);
    const tplId = walk.stateOf(`clonefleet_template.${tplAddr}`)!.id as string;
    const rep = { ...strip(replicaAttrs), template_id: tplId, target_datastore_id: replicaDsId };
    const all: Configuration = { provider: providerCfg, resources: { ...withTemplate.resources, [`clonefleet_replica.${replicaAddr}`]: rep } };
    await walk.applyConfig(all);
    expect((await t.client.replicas.list()).map((x) => [x.template_id, x.target_datastore_id, x.state])).toEqual([[tplId, replicaDsId, "ready"]]);
    await walk.destroy(all);
    expect(await t.client.replicas.list()).toEqual([]);
    expect(await t.client.datastores.list()).toEqual([]);
  });
});
