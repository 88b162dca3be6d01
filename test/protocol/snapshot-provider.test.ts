/**
 * clonefleet_snapshot through the plugin protocol against a real engine with real QEMU (TCG, a
 * firmware-only VM that keeps running throughout): validation, an unknown vm_id, a snapshot of
 * the running VM, an empty plan, import, drift (consolidated outside Terraform → gone → created
 * again), a destroy that outlasts timeouts.delete, and destroy = live consolidation.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { VmWire } from "../../engine/client";
import { PROJECT_ROOT } from "../../engine/version";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, forkVm, killAllVms, vmFixture } from "../support/vms";
import { cleanCheck, consolidate, guestWrite, mismatches, snap, withQmp } from "../snapshots/helpers";
import { DiagnosticsError, TerraformWalk, diagnosticField, type Configuration, type LaunchOptions, type Plan } from "./driver";

jest.setTimeout(180_000);

const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");
const launch = (): LaunchOptions => ({ command: PROVIDER_BIN, args: [] });
const SNAP = "clonefleet_snapshot.nightly";
const SLOT = 64 * 1024;

describe("clonefleet_snapshot through the plugin protocol with a running QEMU VM", () => {
  let t: TestEngine;
  const walk = new TerraformWalk(launch());
  let vm: VmWire;
  /** The VM's chain depth before any snapshot. */
  let baseDepth: number;
  const expected = new Map<number, number>();
  const declared = { deleteTimeout: "30m" };

  const provider = () => ({ endpoint: t.engine.url, token: t.engine.token });
  const config = (over: Record<string, unknown> = {}): Configuration => ({
    provider: provider(),
    resources: { [SNAP]: { vm_id: vm.id, name: "nightly", timeouts: { delete: declared.deleteTimeout }, ...over } },
  });
  const actions = (plan: Plan) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  const engineVm = async () => (await t.client.vms.get(vm.id))!;
  const status = () => withQmp(vm.state_dir!, async (q) => (await q.execute("query-status")).status);
  const errorOf = async (p: Promise<unknown>): Promise<DiagnosticsError> => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DiagnosticsError);
    return err as DiagnosticsError;
  };

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    t = await startTestEngine({ engine: { accel: "tcg" } });
    const fx = await vmFixture(t.client, t.dir);
    vm = await t.client.vms.start((await createVm(t.client, "app", fx.templateId)).id);
    baseDepth = vm.chain_depth;
    await guestWrite(vm.state_dir!, 0, 0x41);
    expected.set(0, 0x41);
  });
  afterAll(async () => {
    delete process.env.CLONEFLEET_FAULT_SNAPSHOT_HOLD;
    await killAllVms(path.join(t.stateDir, "vms"));
    await t.stop();
  });

  test("validate: a bad name and an empty vm_id, each named", async () => {
    const diags = await walk.validate({ provider: provider(), resources: { "clonefleet_snapshot.bad": { vm_id: "", name: "no spaces" } } });
    expect(diags.map(diagnosticField).sort()).toEqual(["name", "vm_id"]);
  });

  test("an unknown vm_id fails the plan naming vm_id, and changes nothing", async () => {
    const err = await errorOf(walk.applyConfig(config({ vm_id: "vm-0000000000000000" })));
    expect(err.step).toMatch(/^PlanResourceChange /);
    const d = err.diagnostics.find((x) => x.severity === "error")!;
    expect(d.summary).toBe("Unknown VM");
    expect(diagnosticField(d)).toBe("vm_id");
    expect(d.detail).toMatch(/^vm_id names no VM on the engine at \S+ \(got "vm-0000000000000000"\)/);
    expect(walk.stateOf(SNAP)).toBeUndefined();
    expect(await t.client.snapshots.list(vm.id)).toEqual([]);
    expect((await engineVm()).chain_depth).toBe(baseDepth);
  });

  test("create on the running VM: its chain is one layer longer, the frozen layer is sound, the next plan is empty", async () => {
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [SNAP]: "create" });
    await walk.apply(plan);
    const s = walk.stateOf(SNAP)!;
    const after = await engineVm();
    expect(s).toMatchObject({ vm_id: vm.id, name: "nightly", state: "ready" });
    expect(after.chain_depth).toBe(baseDepth + 1);
    expect(after.disk_chain[1]).toBe(s.frozen_disk_path);
    expect(s.frozen_chain).toEqual(after.disk_chain.slice(1));
    expect(after.power_state).toBe("running");
    expect(await status()).toBe("running");
    await fs.access(s.frozen_disk_path as string);
    expect(await cleanCheck(s.frozen_disk_path as string)).toBe(true);
    // The frozen layer holds the data written before the snapshot.
    expect(await mismatches(s.frozen_disk_path as string, expected)).toEqual([]);
    expect(actions(await walk.plan(config()))).toEqual({ [SNAP]: "no-op" });
  });

  test("import by id reproduces the state and the next plan is empty", async () => {
    const other = new TerraformWalk(launch());
    await other.importResource(config(), SNAP, walk.stateOf(SNAP)!.id as string);
    const { timeouts: _ignored, ...expectedState } = walk.stateOf(SNAP)!;
    expect(other.stateOf(SNAP)).toMatchObject(expectedState);
    // Without a timeouts block (an imported state has none, so one in the configuration plans an update of timeouts alone).
    const plain: Configuration = { provider: provider(), resources: { [SNAP]: { vm_id: vm.id, name: "nightly" } } };
    expect(actions(await other.plan(plain))).toEqual({ [SNAP]: "no-op" });
    const withTimeouts = await other.plan(config());
    expect(actions(withTimeouts)).toEqual({ [SNAP]: "update" });
    expect(withTimeouts.changes[0].requiresReplace).toEqual([]);
  });

  test("drift: a snapshot consolidated outside Terraform is gone; the plan creates it and the apply takes it again", async () => {
    const before = walk.stateOf(SNAP)!;
    await consolidate(t.client, before.id as string);
    expect((await engineVm()).chain_depth).toBe(baseDepth);
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [SNAP]: "create" });
    expect(plan.refreshed.get(SNAP)?.value.isNull()).toBe(true);
    await walk.apply(plan);
    const after = walk.stateOf(SNAP)!;
    expect(after.id).not.toBe(before.id);
    expect((await engineVm()).chain_depth).toBe(baseDepth + 1);
    expect(actions(await walk.plan(config()))).toEqual({ [SNAP]: "no-op" });
  });

  test("a consolidation that outlasts timeouts.delete: a diagnostic names the job left running; once it is cancelled the snapshot reads gone and is taken again", async () => {
    declared.deleteTimeout = "2s";
    await walk.applyConfig(config());
    const held = walk.stateOf(SNAP)!;
    // The engine runs in this process: park the consolidation at BLOCK_JOB_READY, before the pivot.
    process.env.CLONEFLEET_FAULT_SNAPSHOT_HOLD = "delete-ready";
    let jobId: string;
    try {
      const err = await errorOf(walk.destroy(config()));
      const d = err.diagnostics.find((x) => x.severity === "error")!;
      expect(d.summary).toBe("Cannot delete clonefleet_snapshot");
      expect(d.detail).toMatch(/delete did not finish within 2s \(set timeouts\.delete to allow longer\)/);
      jobId = /Job (\S+) keeps running on the engine/.exec(d.detail ?? "")![1];
      expect(d.detail).toContain(`clonefleet job show ${jobId}`);
      expect(walk.stateOf(SNAP)).toMatchObject({ id: held.id });
      expect((await t.client.jobs.get(jobId)).state).toBe("running");
    } finally {
      delete process.env.CLONEFLEET_FAULT_SNAPSHOT_HOLD;
    }
    const cancelled = await t.client.jobs.cancel(jobId);
    for (let i = 0; i < 400 && (await t.client.jobs.get(cancelled.id)).state === "running"; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await t.client.jobs.get(jobId)).state).toBe("cancelled");
    // The cancelled commit left the VM running on its full chain, and the snapshot no longer holds its point in time.
    expect((await engineVm()).chain_depth).toBe(baseDepth + 1);
    expect(await status()).toBe("running");
    expect((await t.client.snapshots.get(held.id as string))!.state).toBe("drifted");

    declared.deleteTimeout = "30m";
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [SNAP]: "create" });
    await walk.apply(plan);
    // The drifted one was consolidated before the new one was taken: one snapshot, one layer more than the VM alone.
    const snaps = await t.client.snapshots.list(vm.id);
    expect(snaps.map((s) => [s.id, s.state])).toEqual([[walk.stateOf(SNAP)!.id, "ready"]]);
    expect((await engineVm()).chain_depth).toBe(baseDepth + 1);
  });

  test("a consolidation the engine refuses (a fork rests on the snapshot's layer): the diagnostic gives the cause, and the snapshot stays", async () => {
    const held = walk.stateOf(SNAP)!;
    // The fork copies the VM's delta, which rests on the frozen layer: merging into that layer would change the child's disk.
    const child = await forkVm(t.client, vm.id, "child");
    const err = await errorOf(walk.destroy(config()));
    const d = err.diagnostics.find((x) => x.severity === "error")!;
    expect(d.summary).toBe("Cannot delete clonefleet_snapshot");
    expect(d.detail).toMatch(/consolidating snapshot "nightly" of VM \S+ failed \(job \S+ failed\): .*other disks rest on its layers: .*The VM keeps its full chain\./);
    expect(d.detail).toContain(child.disk_path);
    expect(walk.stateOf(SNAP)).toMatchObject({ id: held.id });
    expect((await t.client.snapshots.get(held.id as string))!.state).toBe("ready");
    expect((await engineVm()).chain_depth).toBe(baseDepth + 1);
    expect(await status()).toBe("running");
    await t.client.vms.delete(child.id);
    expect(actions(await walk.plan(config()))).toEqual({ [SNAP]: "no-op" });
  });

  test("a snapshot of that name taken outside Terraform is not adopted: the create names it and says how to import it", async () => {
    const outside = await snap(t.client, vm.id, "weekly");
    const err = await errorOf(walk.plan(config({ name: "weekly" })).then((p) => walk.apply(p)));
    const d = err.diagnostics.find((x) => x.severity === "error")!;
    expect(diagnosticField(d)).toBe("name");
    expect(d.detail).toContain(`terraform import <address> ${outside.id}`);
    expect(walk.stateOf(SNAP)).toBeUndefined();
    await consolidate(t.client, outside.id);
    // The replace destroyed the old snapshot first; put it back for the last test.
    await walk.applyConfig(config());
    expect((await t.client.snapshots.list(vm.id)).map((s) => s.name)).toEqual(["nightly"]);
  });

  test("destroy consolidates live: the chain is one layer shorter, the VM still runs, every write reads back and the disk checks clean", async () => {
    // Written after the snapshot, so it lives in the layer the consolidation merges.
    await guestWrite(vm.state_dir!, 5 * SLOT, 0x42);
    expected.set(5 * SLOT, 0x42);
    const frozen = walk.stateOf(SNAP)!.frozen_disk_path as string;
    const plan = await walk.destroy(config());
    expect(actions(plan)).toEqual({ [SNAP]: "delete" });
    expect(walk.stateOf(SNAP)).toBeUndefined();
    expect(await t.client.snapshots.list(vm.id)).toEqual([]);
    const after = await engineVm();
    expect(after.chain_depth).toBe(baseDepth);
    // The frozen layer took the merged data and is the VM's top layer now.
    expect(after.disk_path).toBe(frozen);
    expect(after.power_state).toBe("running");
    expect(await status()).toBe("running");
    await withQmp(vm.state_dir!, (q) => q.execute("stop"));
    try {
      expect(await mismatches(after.disk_path, expected)).toEqual([]);
      expect(await cleanCheck(after.disk_path)).toBe(true);
    } finally {
      await withQmp(vm.state_dir!, (q) => q.execute("cont"));
    }
    for (const err of walk.stderr) expect(err).not.toContain(t.engine.token!);
  });
});
