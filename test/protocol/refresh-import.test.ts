/**
 * Every resource type of the provider, made through the engine API and imported through the
 * plugin protocol against a real engine with real QEMU (TCG, firmware-only VMs):
 * - the configuration `terraform plan -generate-config-out` would write from each imported
 *   state (its arguments that are set) validates and plans no change;
 * - two refreshes (ReadResource) with nothing managed changed give identical state, even when
 *   something else writes to the datastores' filesystem in between (free space moves);
 * - an in-place update of a replica or an instant-clone parent keeps the values the update
 *   cannot change known in the plan.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { resources } from "../../provider/resources";
import { toPlain } from "../../provider/protocol/cty";
import { startTestEngine, type TestEngine } from "../support/engine";
import { makeEveryResource, type EveryResource } from "../support/every-resource";
import { killAllVms } from "../support/vms";
import { TerraformWalk, type Configuration, type Plan } from "./driver";

jest.setTimeout(300_000);

const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");

/** Address → the id it imports, for one object of every type (three VMs: a clone, a fork, an instant clone). */
function importsOf(ids: EveryResource): Record<string, string> {
  return {
    "clonefleet_datastore.main": ids.datastore,
    "clonefleet_datastore.other": ids.otherDatastore,
    "clonefleet_template.tiny": ids.template,
    "clonefleet_replica.tiny": ids.replica,
    "clonefleet_disk_pool.main": ids.pool,
    "clonefleet_fleet.web": ids.fleet,
    "clonefleet_vm.plain": ids.vm,
    "clonefleet_vm.fork": ids.fork,
    "clonefleet_snapshot.nightly": ids.snapshot,
    "clonefleet_vm.app": ids.parentSource,
    "clonefleet_instant_clone_parent.base": ids.parent,
    "clonefleet_vm.clone": ids.instantClone,
  };
}

/** What `-generate-config-out` writes for a state: every argument (not computed-only) that is not null. */
function generatedConfig(type: string, state: Record<string, unknown>): Record<string, unknown> {
  const r = resources.find((x) => x.typeName === type)!;
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(r.schema.attributes)) {
    if (spec.mode === "computed") continue;
    if (state[name] !== null && state[name] !== undefined) out[name] = state[name];
  }
  return out;
}

describe("every resource type imported, refreshed twice and planned through the plugin protocol", () => {
  let t: TestEngine;
  let tmpfsDir: string;
  let ids: EveryResource;
  const walk = new TerraformWalk({ command: PROVIDER_BIN, args: [] });
  const provider = () => ({ endpoint: t.engine.url, token: t.engine.token });
  /** What -generate-config-out would write for each imported object, by address. */
  const generated: Record<string, Record<string, unknown>> = {};
  let config: Configuration;
  const actions = (plan: Plan) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  const change = (plan: Plan, address: string) => plan.changes.find((c) => c.address === address)!;

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    t = await startTestEngine({ engine: { accel: "tcg" } });
    tmpfsDir = t.engine.runner.settings.parentTmpfsDir!;
    ids = await makeEveryResource(t.client, t.dir);
    const imports = importsOf(ids);
    for (const [address, id] of Object.entries(imports)) await walk.importResource({ provider: provider() }, address, id);
    for (const address of Object.keys(imports)) generated[address] = generatedConfig(address.split(".")[0], walk.stateOf(address)!);
    config = { provider: provider(), resources: generated };
  });
  afterAll(async () => {
    if (t) await killAllVms(path.join(t.stateDir, "vms"));
    await t?.stop();
    if (tmpfsDir) await fs.rm(tmpfsDir, { recursive: true, force: true });
  });

  test("imported, each state gives a configuration that validates and plans no change", async () => {
    // Arguments that do not apply to a VM's origin read null, so they are not written.
    for (const address of ["clonefleet_vm.fork", "clonefleet_vm.clone"]) {
      expect(generated[address]).not.toHaveProperty("datastore_id");
      expect(generated[address]).not.toHaveProperty("clone_mode");
      expect(generated[address]).not.toHaveProperty("template_id");
    }
    expect(generated["clonefleet_vm.plain"]).toMatchObject({ template_id: ids.template, clone_mode: "full", datastore_id: ids.datastore });
    expect(await walk.validate(config)).toEqual([]);
    const plan = await walk.plan(config);
    expect(new Set(Object.values(actions(plan)))).toEqual(new Set(["no-op"]));
  });

  test("two refreshes with nothing managed changed give identical state, though free space moved in between", async () => {
    const first = await walk.plan(config);
    // Something outside clonefleet writes to the same filesystem: no managed object changes.
    const scratch = path.join(t.dir, "ds", "scratch.bin");
    await fs.writeFile(scratch, Buffer.alloc(16 * 1024 * 1024, 1));
    const second = await walk.plan(config);
    await fs.rm(scratch);
    for (const address of Object.keys(importsOf(ids))) {
      expect({ address, state: toPlain(second.refreshed.get(address)!.value) }).toEqual({ address, state: toPlain(first.refreshed.get(address)!.value) });
    }
    expect(new Set(Object.values(actions(second)))).toEqual(new Set(["no-op"]));
  });

  test("an in-place update of a replica or a parent keeps what it cannot change known in the plan", async () => {
    const resources = config.resources!;
    const plan = await walk.plan({
      ...config,
      resources: {
        ...resources,
        "clonefleet_replica.tiny": { ...resources["clonefleet_replica.tiny"], verify: true },
        "clonefleet_instant_clone_parent.base": { ...resources["clonefleet_instant_clone_parent.base"], warm_count: 1 },
      },
    });
    expect(actions(plan)).toMatchObject({ "clonefleet_replica.tiny": "update", "clonefleet_instant_clone_parent.base": "update" });
    const stays: Record<string, string[]> = {
      "clonefleet_replica.tiny": ["disk_path"],
      "clonefleet_instant_clone_parent.base": ["disk_path", "disk_chain", "state", "children"],
    };
    for (const [address, names] of Object.entries(stays)) {
      const c = change(plan, address);
      for (const name of names) {
        expect({ address, name, known: c.planned.getAttr(name).isWhollyKnown() }).toEqual({ address, name, known: true });
        expect(toPlain(c.planned.getAttr(name))).toEqual(toPlain(c.prior.getAttr(name)));
      }
    }
    expect(toPlain(change(plan, "clonefleet_instant_clone_parent.base").planned.getAttr("children"))).toEqual([ids.instantClone]);
  });
});
