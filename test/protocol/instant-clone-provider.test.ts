/**
 * clonefleet_instant_clone_parent and clonefleet_vm's `instant_clone_of` through the plugin
 * protocol against a real engine with real QEMU (TCG, firmware-only VMs): validation, a parent
 * captured from a running VM (the source started again), an empty plan, import, an instant
 * clone running on its own delta, drift (a parent whose RAM file vanished is gone and captured
 * again; the clone deleted outside is cloned again from its parent), a parent with a
 * stray child refused at destroy naming it (and waited for with wait_for_children_on_destroy,
 * set in place), warm_count (set at create, changed in place, drift when changed outside, 65
 * refused at plan time), bad input naming the attribute and changing
 * nothing, and destroy (clones, then the parent) with every QEMU gone.
 */
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import type { InstantCloneResultWire } from "../../engine/client";
import { PROJECT_ROOT } from "../../engine/version";
import { toPlain, UNKNOWN } from "../../provider/protocol/cty";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, killAllVms, pidAlive, vmFixture } from "../support/vms";
import { waitFor } from "../support/wait";
import { DiagnosticsError, TerraformWalk, diagnosticField, type Configuration, type Plan } from "./driver";

jest.setTimeout(180_000);

const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");
const launch = () => ({ command: PROVIDER_BIN, args: [] });

const SRC = "clonefleet_vm.src";
const PARENT = "clonefleet_instant_clone_parent.base";
const CLONE = "clonefleet_vm.clone";
const MEMORY_MB = 64;


describe("clonefleet_instant_clone_parent and clonefleet_vm instant_clone_of through the plugin protocol with real QEMU", () => {
  let t: TestEngine;
  let tmpfsDir: string;
  const walk = new TerraformWalk(launch());
  let fx: { datastoreId: string; templateId: string };
  const pids = new Set<number>();
  const declared = { withParent: false, withClone: false, waitOnDestroy: false, warmCount: 1 };

  const provider = () => ({ endpoint: t.engine.url, token: t.engine.token });
  const actions = (plan: Plan) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  const config = (): Configuration => ({
    provider: provider(),
    resources: {
      [SRC]: { name: "src", template_id: fx.templateId, clone_mode: "full", power_state: "running" },
      ...(declared.withParent ? { [PARENT]: { source_vm_id: walk.stateOf(SRC)!.id, name: "base", warm_count: declared.warmCount, ...(declared.waitOnDestroy ? { wait_for_children_on_destroy: true } : {}) } } : {}),
      ...(declared.withClone ? { [CLONE]: { name: "clone", instant_clone_of: walk.stateOf(PARENT)?.id ?? UNKNOWN, power_state: "running" } } : {}),
    },
  });
  const noChanges = async () => expect(new Set(Object.values(actions(await walk.plan(config()))))).toEqual(new Set(["no-op"]));
  const engineVm = async (id: unknown) => {
    const v = (await t.client.vms.get(id as string))!;
    if (v.pid) pids.add(v.pid);
    return v;
  };
  const warmReady = (parentId: unknown, n: number) =>
    waitFor(`${n} pre-started children of ${String(parentId)}`, async () => {
      const p = (await t.client.parents.get(parentId as string))!;
      return p.warm_ready === n ? p : null;
    }, 60_000);

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    t = await startTestEngine({ engine: { accel: "tcg" } });
    tmpfsDir = t.engine.runner.settings.parentTmpfsDir!;
    fx = await vmFixture(t.client, t.dir, MEMORY_MB);
  });
  afterAll(async () => {
    await killAllVms(path.join(t.stateDir, "vms"));
    await t.stop();
    await fs.rm(tmpfsDir, { recursive: true, force: true });
  });

  test("validate: instant_clone_of excludes template_id, fork_of and datastore_id and wants power_state; a parent's name and ram_location", async () => {
    const diags = await walk.validate({
      provider: provider(),
      resources: {
        "clonefleet_vm.mixed": { name: "mixed", instant_clone_of: "parent-x", template_id: "tpl-x", fork_of: "vm-x", datastore_id: "ds-x", power_state: "running" },
        "clonefleet_vm.nopower": { name: "nopower", instant_clone_of: "parent-x" },
        "clonefleet_instant_clone_parent.bad": { source_vm_id: "", name: "a/b", ram_location: "nvme" },
      },
    });
    expect(diags.map(diagnosticField).sort()).toEqual(["datastore_id", "fork_of", "name", "power_state", "ram_location", "source_vm_id", "template_id"]);
    expect(diags.find((d) => diagnosticField(d) === "power_state")!.detail).toContain('power_state must be set ("running") with instant_clone_of');
    // A parent made in the same apply is unknown at validation: nothing to say yet.
    expect(await walk.validate({ provider: provider(), resources: { "clonefleet_vm.later": { name: "later", instant_clone_of: UNKNOWN, power_state: "running" } } })).toEqual([]);
  });

  test("a parent captured from the running VM: its files exist, the source runs again, the next plan is empty", async () => {
    await walk.applyConfig(config());
    const srcBefore = await engineVm(walk.stateOf(SRC)!.id);
    declared.withParent = true;
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [SRC]: "no-op", [PARENT]: "create" });
    await walk.apply(plan);
    const p = walk.stateOf(PARENT)!;
    expect(p).toMatchObject({ name: "base", source_vm_id: srcBefore.id, state: "ready", memory_bytes: MEMORY_MB * 1024 * 1024, ram_location: "tmpfs", restart_source: true, wait_for_children_on_destroy: false, warm_count: 1, accel: "tcg", children: [] });
    for (const file of [p.ram_path, p.device_state_path, p.disk_path] as string[]) expect(existsSync(file)).toBe(true);
    expect((p.ram_path as string).startsWith(tmpfsDir + "/")).toBe(true);
    expect(await t.client.parents.get(p.id as string)).toMatchObject({ id: p.id, state: "ready", disk_path: p.disk_path, warm_count: 1 });
    // warm_count 1: the host keeps one child pre-started for it.
    await warmReady(p.id, 1);
    // The capture stopped the source; the provider started it again (a cold boot on a new overlay on the frozen layer).
    const src = await engineVm(srcBefore.id);
    expect(src.power_state).toBe("running");
    expect(src.pid).not.toBe(srcBefore.pid);
    expect(src.disk_chain[1]).toBe(p.disk_path);
    await noChanges();
  });

  test("drift: a parent whose RAM file vanished is gone; the plan captures it again", async () => {
    const before = walk.stateOf(PARENT)!;
    await fs.rm(before.ram_path as string);
    expect((await t.client.parents.get(before.id as string))!.state).toBe("drifted");
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [SRC]: "no-op", [PARENT]: "create" });
    await walk.apply(plan);
    const after = walk.stateOf(PARENT)!;
    expect(after.id).not.toBe(before.id);
    expect(after).toMatchObject({ name: "base", state: "ready", source_vm_id: walk.stateOf(SRC)!.id });
    expect(existsSync(after.ram_path as string)).toBe(true);
    // The drifted record that held the name is gone.
    expect(await t.client.parents.get(before.id as string)).toBeNull();
    const src = await engineVm(walk.stateOf(SRC)!.id);
    expect(src.power_state).toBe("running");
    expect(src.disk_chain[1]).toBe(after.disk_path);
    await noChanges();
  });

  test("an instant clone via instant_clone_of: running at once, on its own delta over the parent's frozen disk; the next plan is empty", async () => {
    const p = walk.stateOf(PARENT)!;
    declared.withClone = true;
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [SRC]: "no-op", [PARENT]: "no-op", [CLONE]: "create" });
    await walk.apply(plan);
    const c = walk.stateOf(CLONE)!;
    expect(c).toMatchObject({ name: "clone", instant_clone_of: p.id, template_id: null, fork_of: null, provisioned_by: "instant-clone", power_state: "running", state: "ready" });
    const v = await engineVm(c.id);
    expect(v).toMatchObject({ name: "clone", instant_clone_of: p.id, power_state: "running" });
    expect(pidAlive(v.pid!)).toBe(true);
    expect(v.disk_chain[1]).toBe(p.disk_path);
    expect(v.disk_path.startsWith(v.home_dir + "/")).toBe(true);
    expect(c.chain_depth).toBe((p.disk_chain as string[]).length + 1);
    expect((await t.client.parents.get(p.id as string))!.children).toEqual([c.id]);
    await noChanges();
  });

  test("import by id reproduces the parent's and the clone's state, and the next plan is empty", async () => {
    const other = new TerraformWalk(launch());
    const cfg = config();
    for (const address of [SRC, PARENT, CLONE]) await other.importResource(cfg, address, walk.stateOf(address)!.id as string);
    for (const address of [PARENT, CLONE]) {
      // `children` is read live; the rest matches what the apply stored.
      const { timeouts: _t, children: _c, ...expected } = walk.stateOf(address)!;
      expect(other.stateOf(address)).toMatchObject(expected);
    }
    const plan = await other.plan(cfg);
    expect(plan.changes.filter((c) => c.action !== "no-op").map((c) => c.address)).toEqual([]);
  });

  test("drift: an instant clone deleted outside Terraform is cloned again from its parent", async () => {
    const before = walk.stateOf(CLONE)!;
    await t.client.vms.delete(before.id as string);
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [SRC]: "no-op", [PARENT]: "no-op", [CLONE]: "create" });
    await walk.apply(plan);
    const after = walk.stateOf(CLONE)!;
    expect(after.id).not.toBe(before.id);
    expect(after).toMatchObject({ name: "clone", instant_clone_of: walk.stateOf(PARENT)!.id, power_state: "running" });
    expect((await engineVm(after.id)).power_state).toBe("running");
    await noChanges();
  });

  test("warm_count: a change is an in-place update the engine follows; a change outside Terraform plans as an update; 65 is refused at plan time naming warm_count", async () => {
    const p = walk.stateOf(PARENT)!;
    declared.warmCount = 2;
    const up = await walk.plan(config());
    expect(actions(up)).toEqual({ [SRC]: "no-op", [PARENT]: "update", [CLONE]: "no-op" });
    await walk.apply(up);
    expect(walk.stateOf(PARENT)).toMatchObject({ id: p.id, warm_count: 2 });
    expect(await t.client.parents.get(p.id as string)).toMatchObject({ id: p.id, warm_count: 2 });
    await warmReady(p.id, 2);
    await noChanges();

    // Changed outside Terraform: the refresh reads it, the plan puts the declared count back in place.
    await t.client.parents.update(p.id as string, { warm_count: 0 });
    const drift = await walk.plan(config());
    expect(actions(drift)).toEqual({ [SRC]: "no-op", [PARENT]: "update", [CLONE]: "no-op" });
    expect((toPlain(drift.refreshed.get(PARENT)!.value) as Record<string, unknown>).warm_count).toBe(0);
    await walk.apply(drift);
    expect((await t.client.parents.get(p.id as string))!.warm_count).toBe(2);
    await noChanges();

    declared.warmCount = 65;
    const err = await walk.applyConfig(config()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    const [d] = (err as DiagnosticsError).diagnostics;
    expect(diagnosticField(d)).toBe("warm_count");
    expect(d.detail).toContain("warm_count must be between 0 and 64 (got 65)");
    expect(walk.stateOf(PARENT)).toMatchObject({ id: p.id, warm_count: 2 });
    expect((await t.client.parents.get(p.id as string))!.warm_count).toBe(2);
    declared.warmCount = 1;
    await walk.applyConfig(config());
    expect((await t.client.parents.get(p.id as string))!.warm_count).toBe(1);
  });

  test("bad input: an unknown source VM fails the plan, a stopped one the apply, each a diagnostic on source_vm_id, and nothing changes", async () => {
    const stopped = await createVm(t.client, "stopped-src", fx.templateId);
    const parentsBefore = (await t.client.parents.list()).map((p) => p.id);
    for (const [sourceVmId, summary, expected] of [
      ["vm-nope", "Unknown VM", /source_vm_id names no VM on the engine at \S+ \(got "vm-nope"\)/],
      [stopped.id, "Cannot create clonefleet_instant_clone_parent", /not running/],
    ] as const) {
      const bad = new TerraformWalk(launch());
      const err = await bad.applyConfig({ provider: provider(), resources: { "clonefleet_instant_clone_parent.bad": { source_vm_id: sourceVmId, name: "bad" } } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DiagnosticsError);
      const d = (err as DiagnosticsError).diagnostics[0];
      expect(diagnosticField(d)).toBe("source_vm_id");
      expect(d.summary).toBe(summary);
      expect(d.detail).toMatch(expected);
      expect(bad.stateOf("clonefleet_instant_clone_parent.bad")).toBeUndefined();
    }
    expect((await t.client.parents.list()).map((p) => p.id)).toEqual(parentsBefore);
    expect((await t.client.vms.get(stopped.id))!.power_state).toBe("stopped");
    await t.client.vms.delete(stopped.id);
  });

  test("destroy: a parent with a child Terraform does not manage is refused naming it; with wait_for_children_on_destroy (set in place) it waits until the child is gone", async () => {
    const p = walk.stateOf(PARENT)!;
    const job = await t.client.parents.clone(p.id as string, { names: ["stray"] });
    const stray = ((await t.client.waitJob(job.id, { timeoutMs: 60_000 })).result as InstantCloneResultWire).children[0].id;
    const err = await walk.destroy(config()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    const d = (err as DiagnosticsError).diagnostics[0];
    expect(d.summary).toBe("Cannot delete clonefleet_instant_clone_parent");
    expect(d.detail).toContain("stray");
    expect(diagnosticField(d)).toBe("wait_for_children_on_destroy");
    // The clone Terraform manages went first; the parent stays whole.
    expect(walk.stateOf(CLONE)).toBeUndefined();
    expect((await t.client.parents.get(p.id as string))!.state).toBe("ready");

    declared.withClone = false;
    declared.waitOnDestroy = true;
    const update = await walk.plan(config());
    expect(actions(update)).toEqual({ [SRC]: "no-op", [PARENT]: "update" });
    await walk.apply(update);
    expect(walk.stateOf(PARENT)).toMatchObject({ id: p.id, wait_for_children_on_destroy: true });
    const destroying = walk.destroy(config());
    await new Promise((r) => setTimeout(r, 1500));
    // The destroy waits while the stray child lives.
    expect((await t.client.parents.get(p.id as string))!.state).toBe("ready");
    await t.client.vms.delete(stray);
    const plan = await destroying;
    expect(new Set(Object.values(actions(plan)))).toEqual(new Set(["delete"]));
    expect(await t.client.parents.list()).toEqual([]);
    expect(await t.client.vms.list()).toEqual([]);
    expect(existsSync(p.ram_path as string)).toBe(false);
    expect(pids.size).toBeGreaterThan(0);
    for (const pid of pids) {
      for (let i = 0; i < 200 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 25));
      expect(pidAlive(pid) ? pid : null).toBeNull();
    }
    for (const e of walk.stderr) expect(e).not.toContain(t.engine.token!);
  });
});
