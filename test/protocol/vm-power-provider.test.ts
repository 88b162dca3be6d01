/**
 * clonefleet_vm's `power_state` and `fork_of`, and clonefleet_fleet's `power_state`, through the
 * plugin protocol against a real engine with real QEMU (TCG, firmware-only VMs): validation,
 * a VM created running, an empty plan, stop and start in place, drift (its QEMU killed) powered
 * on again by the next apply, a fork of it, a forked child removed outside recreated by forking
 * again, import, a stop timeout changed in place, a fleet powered on in place, a fleet member's
 * QEMU killed shown as drift and powered on again, and destroy with every QEMU gone.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { UNKNOWN } from "../../provider/protocol/cty";
import { startTestEngine, type TestEngine } from "../support/engine";
import { killAllVms, pidAlive, pidGoneSoon, vmFixture } from "../support/vms";
import { TerraformWalk, diagnosticField, type Configuration, type LaunchOptions, type Plan } from "./driver";

// The firmware ignores ACPI: the parent's stop_timeout_seconds keeps its stop from waiting 30 s.
jest.setTimeout(180_000);

const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");
const launch = (): LaunchOptions => ({ command: PROVIDER_BIN, args: [] });

const PARENT = "clonefleet_vm.parent";
const CHILD = "clonefleet_vm.child";
const FLEET = "clonefleet_fleet.web";


describe("clonefleet_vm power_state and fork_of, clonefleet_fleet power_state, through the plugin protocol with real QEMU", () => {
  let t: TestEngine;
  const walk = new TerraformWalk(launch());
  let fx: { datastoreId: string; templateId: string };
  const pids = new Set<number>();
  const declared = { parentPower: "running", withChild: false, fleetPower: "stopped", stopTimeout: 1 };

  const provider = () => ({ endpoint: t.engine.url, token: t.engine.token });
  const actions = (plan: Plan) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  const change = (plan: Plan, address: string) => plan.changes.find((c) => c.address === address)!;
  const config = (): Configuration => ({
    provider: provider(),
    resources: {
      [PARENT]: { name: "parent", template_id: fx.templateId, clone_mode: "full", power_state: declared.parentPower, stop_timeout_seconds: declared.stopTimeout },
      [FLEET]: { template_id: fx.templateId, size: 1, datastore_ids: [fx.datastoreId], name_prefix: "web", clone_mode: "full", power_state: declared.fleetPower },
      ...(declared.withChild ? { [CHILD]: { name: "child", fork_of: walk.stateOf(PARENT)!.id, power_state: "running" } } : {}),
    },
  });
  const noChanges = async () => expect(new Set(Object.values(actions(await walk.plan(config()))))).toEqual(new Set(["no-op"]));
  const engineVm = async (id: unknown) => {
    const v = (await t.client.vms.get(id as string))!;
    if (v.pid) pids.add(v.pid);
    return v;
  };

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    t = await startTestEngine({ engine: { accel: "tcg" } });
    fx = await vmFixture(t.client, t.dir);
  });
  afterAll(async () => {
    await killAllVms(path.join(t.stateDir, "vms"));
    await t.stop();
  });

  test("validate: exactly one of template_id and fork_of, fork_of without datastore_id, power_state running or stopped", async () => {
    const diags = await walk.validate({
      provider: provider(),
      resources: {
        "clonefleet_vm.both": { name: "both", template_id: "tpl-x", fork_of: "vm-x", datastore_id: "ds-x" },
        "clonefleet_vm.neither": { name: "neither" },
        "clonefleet_vm.power": { name: "power", template_id: "tpl-x", power_state: "on" },
        "clonefleet_fleet.power": { template_id: "tpl-x", size: 1, datastore_ids: ["ds-x"], power_state: "paused" },
        "clonefleet_vm.slow": { name: "slow", template_id: "tpl-x", stop_timeout_seconds: 3601 },
      },
    });
    expect(diags.map(diagnosticField).sort()).toEqual(["datastore_id", "power_state", "power_state", "stop_timeout_seconds", "template_id", "template_id"]);
    expect(diags.find((d) => /fork_of is set/.test(d.detail ?? ""))).toBeDefined();
    // A parent made in the same apply is unknown at validation: nothing to say yet.
    expect(await walk.validate({ provider: provider(), resources: { "clonefleet_vm.later": { name: "later", fork_of: UNKNOWN } } })).toEqual([]);
  });

  test("create: a VM with power_state running is running on the engine; the next plan is empty", async () => {
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "create", [FLEET]: "create" });
    expect(change(plan, FLEET).planned.getAttr("power_state").asString()).toBe("stopped");
    await walk.apply(plan);
    const s = walk.stateOf(PARENT)!;
    expect(s).toMatchObject({ name: "parent", template_id: fx.templateId, fork_of: null, forked_from: null, power_state: "running", state: "ready", chain_depth: 1, stop_timeout_seconds: 1 });
    const v = await engineVm(s.id);
    expect(v.power_state).toBe("running");
    expect(v.stop_timeout_seconds).toBe(1);
    expect(pidAlive(v.pid!)).toBe(true);
    // Starting renewed the top layer's content ID; the state holds the renewed one.
    expect((s.disk_chain as { content_id: string }[])[0].content_id).toBe(v.disk_layers![0].content_id);
    expect(walk.stateOf(FLEET)).toMatchObject({ power_state: "stopped", members_healthy: true });
    await noChanges();
  });

  test("power_state changes in place: stop, then start again", async () => {
    const id = walk.stateOf(PARENT)!.id;
    const pid = (await engineVm(id)).pid!;
    declared.parentPower = "stopped";
    let plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "update", [FLEET]: "no-op" });
    expect(change(plan, PARENT).requiresReplace).toEqual([]);
    await walk.apply(plan);
    expect(walk.stateOf(PARENT)).toMatchObject({ id, power_state: "stopped" });
    expect((await engineVm(id)).power_state).toBe("stopped");
    expect(await pidGoneSoon(pid)).toBe(true);
    await noChanges();

    declared.parentPower = "running";
    plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "update", [FLEET]: "no-op" });
    await walk.apply(plan);
    expect(walk.stateOf(PARENT)).toMatchObject({ id, power_state: "running", state: "ready" });
    expect((await engineVm(id)).power_state).toBe("running");
    await noChanges();
  });

  test("stop_timeout_seconds changes in place", async () => {
    const id = walk.stateOf(PARENT)!.id;
    declared.stopTimeout = 2;
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "update", [FLEET]: "no-op" });
    expect(change(plan, PARENT).requiresReplace).toEqual([]);
    await walk.apply(plan);
    expect(walk.stateOf(PARENT)).toMatchObject({ id, stop_timeout_seconds: 2, power_state: "running" });
    expect((await engineVm(id)).stop_timeout_seconds).toBe(2);
    declared.stopTimeout = 1;
    await walk.apply(await walk.plan(config()));
    expect((await engineVm(id)).stop_timeout_seconds).toBe(1);
    await noChanges();
  });

  test("drift: a VM whose QEMU died reads stopped; the plan updates it in place and the apply powers it on again", async () => {
    const id = walk.stateOf(PARENT)!.id;
    const pid = (await engineVm(id)).pid!;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 200 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "update", [FLEET]: "no-op" });
    const c = change(plan, PARENT);
    expect(c.requiresReplace).toEqual([]);
    expect(c.prior.getAttr("power_state").asString()).toBe("stopped");
    expect(c.prior.getAttr("state").asString()).toBe("crashed");
    expect(c.planned.getAttr("power_state").asString()).toBe("running");
    await walk.apply(plan);
    expect(walk.stateOf(PARENT)).toMatchObject({ id, power_state: "running", state: "ready" });
    const v = await engineVm(id);
    expect(v.power_state).toBe("running");
    expect(v.pid).not.toBe(pid);
    await noChanges();
  });

  test("fork_of: a child forked from the running VM runs, names its parent, and the next plan is empty", async () => {
    const parentId = walk.stateOf(PARENT)!.id;
    declared.withChild = true;
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "no-op", [FLEET]: "no-op", [CHILD]: "create" });
    await walk.apply(plan);
    const child = walk.stateOf(CHILD)!;
    expect(child).toMatchObject({ name: "child", fork_of: parentId, forked_from: parentId, template_id: null, power_state: "running", state: "ready", chain_depth: 2 });
    const v = await engineVm(child.id);
    expect(v.forked_from).toBe(parentId);
    expect(v.power_state).toBe("running");
    expect((await engineVm(parentId)).power_state).toBe("running");
    // The fork froze the parent's disk as a shared base: the child's chain ends on it.
    const chain = child.disk_chain as { path: string }[];
    expect(chain[chain.length - 1].path).toBe((await engineVm(parentId)).disk_chain[1]);
    await noChanges();
  });

  test("drift: a forked child removed outside Terraform is forked again", async () => {
    const before = walk.stateOf(CHILD)!;
    await t.client.vms.delete(before.id as string);
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "no-op", [FLEET]: "no-op", [CHILD]: "create" });
    await walk.apply(plan);
    const after = walk.stateOf(CHILD)!;
    expect(after.id).not.toBe(before.id);
    expect(after).toMatchObject({ name: "child", forked_from: walk.stateOf(PARENT)!.id, power_state: "running" });
    expect((await engineVm(after.id)).power_state).toBe("running");
    await noChanges();
  });

  test("a fleet's power_state changes in place and powers its members on", async () => {
    const before = walk.stateOf(FLEET)!;
    declared.fleetPower = "running";
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "no-op", [FLEET]: "update", [CHILD]: "no-op" });
    expect(change(plan, FLEET).requiresReplace).toEqual([]);
    await walk.apply(plan);
    const after = walk.stateOf(FLEET)!;
    expect(after).toMatchObject({ id: before.id, power_state: "running", members_healthy: true });
    for (const m of after.vms as { id: string }[]) expect((await engineVm(m.id)).power_state).toBe("running");
    expect(after.members_running).toBe(1);
    await noChanges();
  });

  test("drift: a running fleet whose member's QEMU died reads power_state stopped; the apply powers the member on again", async () => {
    const member = (walk.stateOf(FLEET)!.vms as { id: string }[])[0].id;
    const pid = (await engineVm(member)).pid!;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 200 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [PARENT]: "no-op", [FLEET]: "update", [CHILD]: "no-op" });
    const c = change(plan, FLEET);
    expect(c.requiresReplace).toEqual([]);
    expect(c.prior.getAttr("power_state").asString()).toBe("stopped");
    expect(c.prior.getAttr("members_running").asNumber()).toBe(0);
    expect(c.planned.getAttr("power_state").asString()).toBe("running");
    await walk.apply(plan);
    expect(walk.stateOf(FLEET)).toMatchObject({ power_state: "running", members_running: 1 });
    const v = await engineVm(member);
    expect(v.power_state).toBe("running");
    expect(v.pid).not.toBe(pid);
    await noChanges();
  });

  test("import by id reproduces the state and the next plan is empty", async () => {
    const other = new TerraformWalk(launch());
    const cfg = config();
    for (const address of [PARENT, CHILD, FLEET]) await other.importResource(cfg, address, walk.stateOf(address)!.id as string);
    for (const address of [PARENT, CHILD, FLEET]) {
      const { timeouts: _ignored, ...expected } = walk.stateOf(address)!;
      expect(other.stateOf(address)).toMatchObject(expected);
    }
    const plan = await other.plan(cfg);
    expect(plan.changes.filter((c) => c.action !== "no-op").map((c) => c.address)).toEqual([]);
  });

  test("destroy removes the VMs and the fleet, and every QEMU they ran is gone", async () => {
    const plan = await walk.destroy(config());
    expect(new Set(Object.values(actions(plan)))).toEqual(new Set(["delete"]));
    expect(await t.client.vms.list()).toEqual([]);
    expect(await t.client.fleets.list()).toEqual([]);
    expect(pids.size).toBeGreaterThan(0);
    for (const pid of pids) {
      for (let i = 0; i < 200 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 25));
      // A survivor is named by its command line (which VM it ran).
      const survivor = pidAlive(pid) ? (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => String(pid))).replace(/\0/g, " ") : null;
      expect(survivor).toBeNull();
    }
    for (const err of walk.stderr) expect(err).not.toContain(t.engine.token!);
  });
});
