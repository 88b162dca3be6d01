/**
 * clonefleet_disk_pool, clonefleet_vm and clonefleet_fleet through the plugin protocol, one
 * provider process per step as Terraform runs it, against a real engine with real qcow2 copies:
 * validation, create (pools wait until full), an empty plan, import, in-place changes (pool
 * size, fleet growth and shrinking), replacement, drift (a pool below its size, a fleet member's
 * disk gone, a VM deleted or its disk gone) repaired by the next apply, and destroy.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { UNKNOWN } from "../../provider/protocol/cty";
import { importTemplate, waitPoolsSettled } from "../support/clones";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { DiagnosticsError, TerraformWalk, diagnosticField, type Configuration, type LaunchOptions, type Plan } from "./driver";

jest.setTimeout(120_000);

const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");
const launch = (): LaunchOptions => ({ command: PROVIDER_BIN, args: [] });

const POOL_A = "clonefleet_disk_pool.a";
const POOL_B = "clonefleet_disk_pool.b";
const FLEET = "clonefleet_fleet.web";
const VM_LINKED = "clonefleet_vm.linked";
const VM_SOLO = "clonefleet_vm.solo";

interface Member {
  id: string;
  name: string;
  datastore_id: string;
  disk_path: string;
  provisioned_by: string;
}

describe("clonefleet_disk_pool, clonefleet_vm and clonefleet_fleet through the plugin protocol, against a real engine", () => {
  let t: TestEngine;
  const walk = new TerraformWalk(launch());
  const ids = { a: "", b: "", tpl: "" };
  let tplDisk = "";
  const declared = {
    poolSize: { a: 2, b: 2 },
    fleet: { size: 3 } as Record<string, unknown>,
    solo: { name: "solo" } as Record<string, unknown>,
    withFleet: false,
  };

  const provider = () => ({ endpoint: t.engine.url, token: t.engine.token });
  const actions = (plan: Plan) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  const change = (plan: Plan, address: string) => plan.changes.find((c) => c.address === address)!;
  const config = (): Configuration => ({
    provider: provider(),
    resources: {
      [POOL_A]: { template_id: ids.tpl, datastore_id: ids.a, size: declared.poolSize.a, timeouts: { create: "2m", update: "2m" } },
      [POOL_B]: { template_id: ids.tpl, datastore_id: ids.b, size: declared.poolSize.b },
      ...(declared.withFleet
        ? {
            [FLEET]: { template_id: ids.tpl, datastore_ids: [ids.a, ids.b], name_prefix: "web", ...declared.fleet },
            [VM_LINKED]: { name: "linked", template_id: ids.tpl, clone_mode: "linked" },
            [VM_SOLO]: { template_id: ids.tpl, datastore_id: ids.b, ...declared.solo },
          }
        : {}),
    },
  });
  const noChanges = async () => expect(new Set(Object.values(actions(await walk.plan(config()))))).toEqual(new Set(["no-op"]));

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    t = await startTestEngine();
    const image = await makeRawImage(path.join(t.dir, "image.raw"), 4);
    ids.a = (await t.client.datastores.create({ name: "a", path: path.join(t.dir, "a") })).id;
    ids.b = (await t.client.datastores.create({ name: "b", path: path.join(t.dir, "b") })).id;
    const tpl = await importTemplate(t.client, "tiny", ids.a, image);
    ids.tpl = tpl.id;
    tplDisk = tpl.disk_path;
  });
  afterAll(() => t.stop());

  test("validate names every bad attribute", async () => {
    const diags = await walk.validate({
      provider: provider(),
      resources: {
        "clonefleet_disk_pool.bad": { template_id: "", datastore_id: "ds-x", size: -1, at_size: false },
        "clonefleet_vm.bad": { name: "no/slash", template_id: "tpl-x", clone_mode: "thin", datastore_id: "" },
        "clonefleet_fleet.bad": {
          template_id: "tpl-x",
          size: 5000,
          name_prefix: "../up",
          datastore_ids: ["ds-1", "ds-1", ""],
          clone_mode: "thin",
          members_healthy: false,
          timeouts: { update: "soon" },
        },
        "clonefleet_fleet.empty": { template_id: "tpl-x", size: 1, datastore_ids: [] },
      },
    });
    expect(diags.map(diagnosticField).sort()).toEqual(
      [
        "template_id",
        "size",
        "at_size",
        "name",
        "clone_mode",
        "datastore_id",
        "size",
        "name_prefix",
        "datastore_ids[1]",
        "datastore_ids[2]",
        "clone_mode",
        "members_healthy",
        "timeouts.update",
        "datastore_ids",
      ].sort(),
    );
    expect(diags.find((d) => diagnosticField(d) === "datastore_ids[1]")!.detail).toMatch(/repeats ds-1/);
    expect(diags.find((d) => diagnosticField(d) === "at_size")!.detail).toMatch(/leave it unset/);
    // Unknown values (ids made in the same apply) are left for the apply.
    const later = await walk.validate({
      provider: provider(),
      resources: {
        "clonefleet_disk_pool.later": { template_id: UNKNOWN, datastore_id: UNKNOWN, size: UNKNOWN },
        "clonefleet_fleet.later": { template_id: UNKNOWN, size: 2, datastore_ids: [UNKNOWN, UNKNOWN] },
        "clonefleet_vm.later": { name: "later", template_id: UNKNOWN, datastore_id: UNKNOWN },
      },
    });
    expect(later).toEqual([]);
  });

  test("create: pools wait until they hold their size", async () => {
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [POOL_A]: "create", [POOL_B]: "create" });
    const planned = change(plan, POOL_A).planned;
    expect(planned.getAttr("id").isKnown()).toBe(false);
    expect(planned.getAttr("at_size").asBool()).toBe(true);
    await walk.apply(plan);
    for (const [address, ds] of [[POOL_A, ids.a], [POOL_B, ids.b]] as const) {
      const s = walk.stateOf(address)!;
      expect(s).toMatchObject({ template_id: ids.tpl, datastore_id: ds, size: 2, at_size: true });
      expect(s).not.toHaveProperty("ready");
      expect((await t.client.pools.get(s.id as string))!.ready).toBe(2);
    }
  });

  test("create: a fleet and VMs take ready pool copies; the pools show below size until refilled", async () => {
    // Hold the refill so that the plan below sees the pools short, as it would after a big fleet.
    await t.engine.refill.close();
    declared.withFleet = true;
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [POOL_A]: "no-op", [POOL_B]: "no-op", [FLEET]: "create", [VM_LINKED]: "create", [VM_SOLO]: "create" });
    expect(change(plan, FLEET).planned.getAttr("members_healthy").asBool()).toBe(true);
    expect(change(plan, VM_SOLO).planned.getAttr("clone_mode").asString()).toBe("pool");
    expect(change(plan, VM_LINKED).planned.getAttr("datastore_id").isKnown()).toBe(false);
    await walk.apply(plan);

    const fleet = walk.stateOf(FLEET)!;
    const members = fleet.vms as Member[];
    expect(fleet).toMatchObject({ template_id: ids.tpl, size: 3, name_prefix: "web", datastore_ids: [ids.a, ids.b], clone_mode: "pool", members_healthy: true });
    expect(members.map((m) => m.name).sort()).toEqual(["web-1", "web-2", "web-3"]);
    const engineFleet = (await t.client.fleets.get(fleet.id as string))!;
    expect(members.map((m) => m.id)).toEqual(engineFleet.vms.map((v) => v.id));
    for (const m of members) await fs.access(m.disk_path);

    const linked = walk.stateOf(VM_LINKED)!;
    expect(linked).toMatchObject({ name: "linked", clone_mode: "linked", datastore_id: ids.a, provisioned_by: "linked", chain_depth: 2, state: "ready" });
    const chain = linked.disk_chain as { path: string; content_id: string }[];
    expect(chain.map((l) => l.path)).toEqual([linked.disk_path, tplDisk]);
    expect(chain[1].content_id).toBe((await t.client.templates.get(ids.tpl))!.content_id);
    expect(chain[0].content_id).toMatch(/^[0-9a-f]{32}$/);

    const solo = walk.stateOf(VM_SOLO)!;
    expect(solo).toMatchObject({ name: "solo", clone_mode: "pool", datastore_id: ids.b, chain_depth: 1, state: "ready" });

    // Four copies were there; the members and the solo VM took them first (a member placed where the pool ran dry is copied).
    const fromPools = members.filter((m) => m.provisioned_by === "pool").length + (solo.provisioned_by === "pool" ? 1 : 0);
    expect(fromPools).toBeGreaterThanOrEqual(3);

    const drift = await walk.plan(config());
    expect(actions(drift)).toMatchObject({ [POOL_A]: "update", [POOL_B]: "update", [FLEET]: "no-op", [VM_LINKED]: "no-op", [VM_SOLO]: "no-op" });
    const c = change(drift, POOL_A);
    expect(c.requiresReplace).toEqual([]);
    expect(c.prior.getAttr("at_size").asBool()).toBe(false);
    expect(c.planned.getAttr("at_size").asBool()).toBe(true);

    t.engine.refill.start();
    await walk.apply(drift);
    for (const address of [POOL_A, POOL_B]) expect(walk.stateOf(address)).toMatchObject({ size: 2, at_size: true });
    await noChanges();
  });

  test("import by id reproduces the state and the next plan is empty", async () => {
    const other = new TerraformWalk(launch());
    const cfg = config();
    const { timeouts: _t, ...poolA } = cfg.resources![POOL_A];
    cfg.resources![POOL_A] = poolA;
    for (const address of [POOL_A, POOL_B, FLEET, VM_LINKED, VM_SOLO]) await other.importResource(cfg, address, walk.stateOf(address)!.id as string);
    for (const address of [POOL_A, POOL_B, FLEET, VM_LINKED, VM_SOLO]) {
      const { timeouts: _ignored, ...expected } = walk.stateOf(address)!;
      expect(other.stateOf(address)).toMatchObject(expected);
    }
    const plan = await other.plan(cfg);
    expect(plan.changes.filter((c) => c.action !== "no-op").map((c) => c.address)).toEqual([]);
  });

  test("a pool's size changes in place and the apply waits until it is full", async () => {
    const before = walk.stateOf(POOL_B)!;
    declared.poolSize.b = 3;
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [POOL_A]: "no-op", [POOL_B]: "update", [FLEET]: "no-op" });
    expect(change(plan, POOL_B).requiresReplace).toEqual([]);
    await walk.apply(plan);
    expect(walk.stateOf(POOL_B)).toMatchObject({ id: before.id, size: 3, at_size: true });
    expect((await t.client.pools.get(before.id as string))!.ready).toBe(3);
  });

  test("a fleet grows by new members and shrinks by removing the newest", async () => {
    const before = walk.stateOf(FLEET)!;
    const oldMembers = before.vms as Member[];
    declared.fleet = { size: 5 };
    let plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [FLEET]: "update", [POOL_A]: "no-op" });
    expect(change(plan, FLEET).requiresReplace).toEqual([]);
    await walk.apply(plan);
    const grown = walk.stateOf(FLEET)!;
    const grownMembers = grown.vms as Member[];
    expect(grown).toMatchObject({ id: before.id, size: 5, members_healthy: true });
    expect(grownMembers.slice(0, 3)).toEqual(oldMembers);
    expect(grownMembers.map((m) => m.name)).toEqual(["web-1", "web-2", "web-3", "web-4", "web-5"]);

    declared.fleet = { size: 2 };
    plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [FLEET]: "update" });
    await walk.apply(plan);
    const shrunk = walk.stateOf(FLEET)!;
    expect(shrunk).toMatchObject({ id: before.id, size: 2, members_healthy: true });
    expect(shrunk.vms).toEqual(oldMembers.slice(0, 2));
    for (const m of grownMembers.slice(2)) {
      expect(await t.client.vms.get(m.id)).toBeNull();
      await expect(fs.access(m.disk_path)).rejects.toThrow();
    }
    declared.fleet = { size: 3 };
    await walk.applyConfig(config());
    expect((walk.stateOf(FLEET)!.vms as Member[]).length).toBe(3);
    await waitPoolsSettled(t.client);
    await noChanges();
  });

  test("a fleet's datastore_ids change in place and steer where new members go", async () => {
    const before = walk.stateOf(FLEET)!;
    declared.fleet = { size: 4, datastore_ids: [ids.b] };
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [FLEET]: "update" });
    expect(change(plan, FLEET).requiresReplace).toEqual([]);
    await walk.apply(plan);
    const after = walk.stateOf(FLEET)!;
    expect(after).toMatchObject({ id: before.id, size: 4, datastore_ids: [ids.b] });
    expect((after.vms as Member[]).slice(0, 3)).toEqual(before.vms);
    expect((after.vms as Member[])[3]).toMatchObject({ name: "web-4", datastore_id: ids.b });
    declared.fleet = { size: 3 };
    await walk.applyConfig(config());
    expect(walk.stateOf(FLEET)).toMatchObject({ id: before.id, datastore_ids: [ids.a, ids.b], vms: before.vms });
    await waitPoolsSettled(t.client);
    await noChanges();
  });

  test("drift: a fleet member's disk removed outside Terraform makes the plan repair the fleet", async () => {
    const before = walk.stateOf(FLEET)!;
    const members = before.vms as Member[];
    await fs.rm(members[1].disk_path);
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [POOL_A]: "no-op", [POOL_B]: "no-op", [FLEET]: "update", [VM_LINKED]: "no-op", [VM_SOLO]: "no-op" });
    const c = change(plan, FLEET);
    expect(c.requiresReplace).toEqual([]);
    expect(c.prior.getAttr("members_healthy").asBool()).toBe(false);
    expect(c.planned.getAttr("members_healthy").asBool()).toBe(true);
    expect((await t.client.fleets.get(before.id as string))!.state).toBe("drifted");
    await walk.apply(plan);
    const after = walk.stateOf(FLEET)!;
    const repaired = after.vms as Member[];
    expect(after).toMatchObject({ id: before.id, size: 3, members_healthy: true });
    expect(repaired).toHaveLength(3);
    expect(repaired.map((m) => m.id)).not.toContain(members[1].id);
    for (const m of repaired) await fs.access(m.disk_path);
    expect((await t.client.fleets.get(before.id as string))!.state).toBe("ready");
    // The pools lent copies to the repair; let them refill before the next empty plan.
    await waitPoolsSettled(t.client);
    await noChanges();
  });

  test("drift: a VM deleted outside Terraform, or whose disk vanished, is planned again and recreated", async () => {
    const solo = walk.stateOf(VM_SOLO)!;
    await t.client.vms.delete(solo.id as string);
    const linked = walk.stateOf(VM_LINKED)!;
    await fs.rm(linked.disk_path as string);
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [VM_SOLO]: "create", [VM_LINKED]: "create", [FLEET]: "no-op" });
    await walk.apply(plan);
    expect(walk.stateOf(VM_SOLO)!.id).not.toBe(solo.id);
    expect(walk.stateOf(VM_LINKED)).toMatchObject({ name: "linked", provisioned_by: "linked", state: "ready" });
    expect(walk.stateOf(VM_LINKED)!.id).not.toBe(linked.id);
    expect((await t.client.vms.list()).filter((v) => v.fleet_id === null).map((v) => v.name).sort()).toEqual(["linked", "solo"]);
    await waitPoolsSettled(t.client);
    await noChanges();
  });

  test("a new VM name or fleet clone mode replaces the resource", async () => {
    const solo = walk.stateOf(VM_SOLO)!;
    const fleet = walk.stateOf(FLEET)!;
    declared.solo = { name: "solo2", clone_mode: "full" };
    declared.fleet = { size: 3, clone_mode: "full" };
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [VM_SOLO]: "replace", [FLEET]: "replace", [POOL_A]: "no-op" });
    expect(change(plan, VM_SOLO).requiresReplace).toEqual(expect.arrayContaining([[{ attribute: "name" }], [{ attribute: "clone_mode" }]]));
    expect(change(plan, FLEET).requiresReplace).toEqual([[{ attribute: "clone_mode" }]]);
    await walk.apply(plan);
    expect(walk.stateOf(VM_SOLO)).toMatchObject({ name: "solo2", clone_mode: "full", provisioned_by: "copy" });
    expect(await t.client.vms.get(solo.id as string)).toBeNull();
    const newFleet = walk.stateOf(FLEET)!;
    expect(newFleet.id).not.toBe(fleet.id);
    expect((newFleet.vms as Member[]).map((m) => m.provisioned_by)).toEqual(["copy", "copy", "copy"]);
    expect(await t.client.fleets.get(fleet.id as string)).toBeNull();
    await noChanges();
  });

  test("engine refusals reach the user naming the attribute, and nothing enters state", async () => {
    const other = new TerraformWalk(launch());
    const err = await other
      .applyConfig({ provider: provider(), resources: { "clonefleet_vm.x": { name: "x", template_id: ids.tpl, datastore_id: ids.b, clone_mode: "linked" } } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    const diag = (err as DiagnosticsError).diagnostics[0];
    expect(diag.summary).toBe("Cannot create clonefleet_vm");
    expect(diagnosticField(diag)).toMatch(/clone_mode|datastore_id/);
    const unknownDs = await other
      .applyConfig({ provider: provider(), resources: { "clonefleet_disk_pool.x": { template_id: ids.tpl, datastore_id: "ds-0000000000000000", size: 1 } } })
      .catch((e: unknown) => e);
    expect((unknownDs as DiagnosticsError).diagnostics.map(diagnosticField)).toEqual(["datastore_id"]);
    expect(other.state.size).toBe(0);
  });

  test("destroy removes the fleet, the VMs and the pools with their files", async () => {
    const plan = await walk.destroy(config());
    expect(new Set(Object.values(actions(plan)))).toEqual(new Set(["delete"]));
    expect(await t.client.fleets.list()).toEqual([]);
    expect(await t.client.vms.list()).toEqual([]);
    expect(await t.client.pools.list()).toEqual([]);
    for (const err of walk.stderr) expect(err).not.toContain(t.engine.token!);
  });
});
