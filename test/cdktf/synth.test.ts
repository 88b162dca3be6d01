import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Testing, TerraformStack } from "cdktf";
import { ENGINE_VERSION, PROJECT_ROOT } from "../../engine/version";
import { bindingsDir, generateBindings, providerVersionConstraint, readTree } from "../../provider/cdktf/generate";
import { CloneFleet, datastore, provider, TemplateLibrary } from "../../provider/cdktf";
import { providerSchemaJson } from "../../provider/schema-json";
import { clonefleetProvider } from "../../provider/provider";
import { ClonefleetExample } from "../../examples/cdktf/stack";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { TerraformWalk, type Configuration } from "../protocol/driver";

jest.setTimeout(180_000);

interface Synthesized {
  terraform?: { required_providers?: Record<string, { source?: string; version?: string }> };
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
    // cdktf-cli refuses a provider without a version: the one packaged from this checkout satisfies it.
    expect(out.terraform?.required_providers?.clonefleet).toEqual({ source: "registry.terraform.io/clonefleet/clonefleet", version: providerVersionConstraint() });
    expect(providerVersionConstraint()).toBe(`~> ${ENGINE_VERSION.split(".").slice(0, 2).join(".")}`);
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

  test("the CloneFleet puts a pool on each datastore and a fleet over both that waits for them; a linked VM beside it", () => {
    const out = synthExample();
    const datastores = Object.keys(out.resource?.clonefleet_datastore ?? {});
    const tplAddr = Object.keys(out.resource?.clonefleet_template ?? {})[0];
    const pools = Object.entries(out.resource?.clonefleet_disk_pool ?? {});
    expect(pools.map(([, p]) => p)).toEqual(
      datastores.map((ds) => expect.objectContaining({ template_id: `\${clonefleet_template.${tplAddr}.id}`, datastore_id: `\${clonefleet_datastore.${ds}.id}`, size: 2 })),
    );
    const fleets = Object.values(out.resource?.clonefleet_fleet ?? {});
    expect(fleets).toEqual([
      expect.objectContaining({
        template_id: `\${clonefleet_template.${tplAddr}.id}`,
        size: 4,
        name_prefix: "web",
        datastore_ids: datastores.map((ds) => `\${clonefleet_datastore.${ds}.id}`),
        depends_on: pools.map(([addr]) => `clonefleet_disk_pool.${addr}`),
      }),
    ]);
    expect(fleets[0]).not.toHaveProperty("members_healthy");
    expect(Object.values(out.data?.clonefleet_host ?? {})).toEqual([{ id: "local" }]);
    const vms = Object.values(out.resource?.clonefleet_vm ?? {});
    expect(vms).toHaveLength(5); // scratch, app, app-fork and two instant clones of app (test/cdktf/instant-clone-pool.test.ts)
    expect(vms).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "scratch", template_id: `\${clonefleet_template.${tplAddr}.id}`, clone_mode: "linked" }),
        expect.objectContaining({
          name: "app",
          template_id: `\${clonefleet_template.${tplAddr}.id}`,
          clone_mode: "full",
          power_state: "running",
          host_id: expect.stringMatching(/^\$\{data\.clonefleet_host\.[^.]+\.id\}$/),
          migration_notify_timeout_seconds: 10,
          migration_on_missing_ack: "abort",
        }),
        expect.objectContaining({ name: "app-fork", fork_of: expect.stringMatching(/^\$\{clonefleet_vm\.[^.]+\.id\}$/), power_state: "running" }),
      ]),
    );
  });

  test("a snapshot of the running app VM, taken after its fork and its instant-clone parent, with a delete timeout for the consolidation", () => {
    const out = synthExample();
    const vms = Object.entries(out.resource?.clonefleet_vm ?? {});
    const appAddr = vms.find(([, v]) => v.name === "app")![0];
    const forkAddr = vms.find(([, v]) => v.name === "app-fork")![0];
    const [parentAddr] = Object.keys(out.resource?.clonefleet_instant_clone_parent ?? {});
    expect(Object.values(out.resource?.clonefleet_snapshot ?? {})).toEqual([
      expect.objectContaining({
        vm_id: `\${clonefleet_vm.${appAddr}.id}`,
        name: "nightly",
        timeouts: { delete: "30m" },
        depends_on: [`clonefleet_vm.${forkAddr}`, `clonefleet_instant_clone_parent.${parentAddr}`],
      }),
    ]);
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

describe("the CloneFleet construct", () => {
  test("bad props fail at synth time naming each prop", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "bad");
    const ds = new datastore.Datastore(stack, "ds", { name: "a", path: "/srv/a" });
    new CloneFleet(stack, "web", {
      templateId: "",
      datastores: [ds, "ds-1", "ds-1", "", ds],
      poolSize: -1,
      fleetSize: 2000,
      namePrefix: "../up",
      cloneMode: "thin" as "pool",
    });
    let message = "";
    try {
      Testing.synth(stack, true);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const words of ["templateId", "datastores[2] repeats ds-1", "datastores[3] must not be empty", "datastores[4] repeats datastores[0]", "poolSize", "fleetSize", "namePrefix", "cloneMode"]) {
      expect(message).toContain(words);
    }
    const empty = new TerraformStack(app, "empty");
    new CloneFleet(empty, "web", { templateId: "tpl-1", datastores: [], poolSize: 0, fleetSize: 1 });
    expect(() => Testing.synth(empty, true)).toThrow(/datastores must list at least one datastore/);
  });

  test("a pool size of 0 makes no pools; ids given as strings are used as they are", () => {
    const app = Testing.app();
    const stack = new TerraformStack(app, "plain");
    new provider.ClonefleetProvider(stack, "clonefleet", {});
    const cf = new CloneFleet(stack, "web", { templateId: "tpl-1", datastores: ["ds-1", "ds-2"], poolSize: 0, fleetSize: 3, cloneMode: "full" });
    expect(cf.pools).toEqual([]);
    const out = JSON.parse(Testing.synth(stack, true)) as Synthesized;
    expect(out.resource?.clonefleet_disk_pool).toBeUndefined();
    expect(Object.values(out.resource?.clonefleet_fleet ?? {})).toEqual([
      expect.objectContaining({ template_id: "tpl-1", datastore_ids: ["ds-1", "ds-2"], size: 3, clone_mode: "full" }),
    ]);
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

    // The CloneFleet's pools, then its fleet (it depends on them), and the linked VM.
    const dsIdOf: Record<string, string> = { [`\${clonefleet_datastore.${dsAddr}.id}`]: dsId, [`\${clonefleet_datastore.${replicaDsAddr}.id}`]: replicaDsId };
    const pools = Object.fromEntries(
      Object.entries(out.resource!.clonefleet_disk_pool).map(([addr, attrs]) => [
        `clonefleet_disk_pool.${addr}`,
        { ...strip(attrs), template_id: tplId, datastore_id: dsIdOf[attrs.datastore_id as string] },
      ]),
    );
    const withPools: Configuration = { provider: providerCfg, resources: { ...all.resources, ...pools } };
    await walk.applyConfig(withPools);
    expect((await t.client.pools.list()).map((p) => [p.datastore_id, p.ready]).sort()).toEqual([[dsId, 2], [replicaDsId, 2]].sort());
    const [fleetAddr, fleetAttrs] = Object.entries(out.resource!.clonefleet_fleet)[0];
    const { depends_on: _d, ...fleetRest } = strip(fleetAttrs);
    const [vmAddr, vmAttrs] = Object.entries(out.resource!.clonefleet_vm).find(([, a]) => (a as { name?: string }).name === "scratch")!;
    const everything: Configuration = {
      provider: providerCfg,
      resources: {
        ...withPools.resources,
        [`clonefleet_fleet.${fleetAddr}`]: { ...fleetRest, template_id: tplId, datastore_ids: (fleetAttrs.datastore_ids as string[]).map((r) => dsIdOf[r]) },
        [`clonefleet_vm.${vmAddr}`]: { ...strip(vmAttrs), template_id: tplId },
      },
    };
    await walk.applyConfig(everything);
    const members = walk.stateOf(`clonefleet_fleet.${fleetAddr}`)!.vms as { name: string; provisioned_by: string }[];
    expect(members.map((m) => m.name)).toEqual(["web-1", "web-2", "web-3", "web-4"]);
    expect(members.map((m) => m.provisioned_by)).toEqual(["pool", "pool", "pool", "pool"]);
    expect(walk.stateOf(`clonefleet_vm.${vmAddr}`)).toMatchObject({ name: "scratch", provisioned_by: "linked", chain_depth: 2 });

    await walk.destroy(everything);
    expect(await t.client.fleets.list()).toEqual([]);
    expect(await t.client.vms.list()).toEqual([]);
    expect(await t.client.pools.list()).toEqual([]);
    expect(await t.client.replicas.list()).toEqual([]);
    expect(await t.client.datastores.list()).toEqual([]);
  });
});
