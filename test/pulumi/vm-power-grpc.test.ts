/**
 * Vm's `powerState` and `forkOf`, and Fleet's `powerState`, through the Pulumi SDK's own
 * dynamic-provider gRPC server against a real engine with real QEMU (TCG, firmware-only VMs):
 * check, a VM created running, stop and start in place, drift (its QEMU killed) seen by a
 * refresh and powered on again by the update, a fork, a forked child removed outside created
 * again, import, a stop timeout changed in place, a fleet powered on in place, a fleet member's
 * QEMU killed seen by a refresh and powered on again, and delete with every QEMU gone.
 */
import * as path from "node:path";
import { fleetProvider, vmProvider } from "../../pulumi";
import { startTestEngine, type TestEngine } from "../support/engine";
import { killAllVms, pidAlive, pidGoneSoon, vmFixture } from "../support/vms";
import { DynamicProviderProcess, makeProjectDirs, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "./support/provider-host";

// The firmware ignores ACPI: the parent's stopTimeoutSeconds keeps its stop from waiting 30 s.
jest.setTimeout(180_000);

type Props = Record<string, unknown>;
interface Created {
  id: string;
  inputs: Props;
  outs: Props;
}

let engine: TestEngine;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
const text = { vm: "", fleet: "" };
let fx: { datastoreId: string; templateId: string };
const pids = new Set<number>();

const conn = () => ({ endpoint: engine.engine.url, token: engine.engine.token! });
const engineVm = async (id: string) => {
  const v = (await engine.client.vms.get(id))!;
  if (v.pid) pids.add(v.pid);
  return v;
};

async function checkAndCreate(urn: string, news: Props): Promise<Created> {
  const checked = await server.check(urn, {}, news);
  expect(checked.failures).toEqual([]);
  const created = await server.create(urn, checked.inputs);
  return { id: created.id, inputs: checked.inputs, outs: created.properties };
}

/** Refresh, check, diff and update, as `pulumi up --refresh` does. */
async function refreshAndUp(urn: string, r: Created, news: Props): Promise<{ diff: Props; refreshed: Props; next: Created }> {
  const read = await server.read(urn, r.id, r.outs, r.inputs);
  const checked = await server.check(urn, r.inputs, news);
  expect(checked.failures).toEqual([]);
  const diff = await server.diff(urn, r.id, read.properties, checked.inputs);
  const outs = diff.changes === "some" ? await server.update(urn, r.id, read.properties, checked.inputs) : read.properties;
  return { diff, refreshed: read.properties, next: { id: r.id, inputs: checked.inputs, outs } };
}

beforeAll(async () => {
  engine = await startTestEngine({ engine: { accel: "tcg" } });
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  text.vm = (await serializeProvider(vmProvider)).text;
  text.fleet = (await serializeProvider(fleetProvider)).text;
  fx = await vmFixture(engine.client, engine.dir);
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  if (engine) await killAllVms(path.join(engine.stateDir, "vms"));
  await engine?.stop();
});

describe("Vm powerState and forkOf, Fleet powerState, through the dynamic-provider gRPC server with real QEMU", () => {
  const urns = { parent: urnOf("Vm", "parent"), child: urnOf("Vm", "child"), fleet: urnOf("Fleet", "web") };
  const parentNews = (over: Props = {}): Props => ({
    name: "parent",
    templateId: fx.templateId,
    cloneMode: "full",
    powerState: "running",
    stopTimeoutSeconds: 1,
    ...conn(),
    __provider: text.vm,
    ...over,
  });
  const childNews = (over: Props = {}): Props => ({ name: "child", forkOf: parent.id, powerState: "running", ...conn(), __provider: text.vm, ...over });
  const fleetNews = (over: Props = {}): Props => ({
    templateId: fx.templateId,
    size: 1,
    datastoreIds: [fx.datastoreId],
    namePrefix: "web",
    cloneMode: "full",
    ...conn(),
    __provider: text.fleet,
    ...over,
  });
  let parent: Created;
  let child: Created;
  let fleet: Created;

  test("check: exactly one of templateId and forkOf, no datastoreId with forkOf, powerState running or stopped; defaults filled", async () => {
    const both = await server.check(urnOf("Vm", "both"), {}, { name: "both", templateId: "tpl-x", forkOf: "vm-x", datastoreId: "ds-x", ...conn(), __provider: text.vm });
    expect(both.failures.map((f) => f.property).sort()).toEqual(["datastoreId", "templateId"]);
    const neither = await server.check(urnOf("Vm", "neither"), {}, { name: "neither", powerState: "on", ...conn(), __provider: text.vm });
    expect(neither.failures.map((f) => f.property).sort()).toEqual(["powerState", "templateId"]);
    const fl = await server.check(urnOf("Fleet", "bad"), {}, fleetNews({ powerState: "paused" }));
    expect(fl.failures.map((f) => f.property)).toEqual(["powerState"]);
    const ok = await server.check(urnOf("Vm", "ok"), {}, { name: "ok", templateId: "tpl-x", ...conn(), __provider: text.vm });
    expect(ok.inputs).toMatchObject({ powerState: "stopped", cloneMode: "pool" });
  });

  test("create: a VM with powerState running runs; a same-input diff is empty", async () => {
    parent = await checkAndCreate(urns.parent, parentNews());
    expect(parent.outs).toMatchObject({ name: "parent", templateId: fx.templateId, forkOf: null, forkedFrom: null, powerState: "running", state: "ready", stopTimeoutSeconds: 1 });
    const v = await engineVm(parent.id);
    expect(v.power_state).toBe("running");
    expect(v.stop_timeout_seconds).toBe(1);
    const { diff } = await refreshAndUp(urns.parent, parent, parentNews());
    expect(diff.changes).toBe("none");
  });

  test("powerState changes in place: stop, then start", async () => {
    const pid = (await engineVm(parent.id)).pid!;
    let r = await refreshAndUp(urns.parent, parent, parentNews({ powerState: "stopped" }));
    expect(r.diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(r.next.outs).toMatchObject({ powerState: "stopped" });
    expect((await engineVm(parent.id)).power_state).toBe("stopped");
    expect(await pidGoneSoon(pid)).toBe(true);
    parent = r.next;
    r = await refreshAndUp(urns.parent, parent, parentNews());
    expect(r.diff).toMatchObject({ changes: "some", replaces: [] });
    expect(r.next.outs).toMatchObject({ powerState: "running" });
    expect((await engineVm(parent.id)).power_state).toBe("running");
    parent = r.next;
  });

  test("stopTimeoutSeconds changes in place; a value out of range fails the check naming it", async () => {
    const bad = await server.check(urns.parent, parent.inputs, parentNews({ stopTimeoutSeconds: 3601 }));
    expect(bad.failures.map((f) => f.property)).toEqual(["stopTimeoutSeconds"]);
    let r = await refreshAndUp(urns.parent, parent, parentNews({ stopTimeoutSeconds: 2 }));
    expect(r.diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(r.next.outs).toMatchObject({ stopTimeoutSeconds: 2, powerState: "running" });
    expect((await engineVm(parent.id)).stop_timeout_seconds).toBe(2);
    parent = r.next;
    r = await refreshAndUp(urns.parent, parent, parentNews());
    expect(r.next.outs).toMatchObject({ stopTimeoutSeconds: 1 });
    parent = r.next;
  });

  test("drift: a VM whose QEMU died refreshes powerState stopped; the update powers it on again", async () => {
    const pid = (await engineVm(parent.id)).pid!;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 200 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    const { diff, refreshed, next } = await refreshAndUp(urns.parent, parent, parentNews());
    expect(refreshed).toMatchObject({ powerState: "stopped", state: "crashed" });
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(next.outs).toMatchObject({ powerState: "running", state: "ready" });
    const v = await engineVm(parent.id);
    expect(v.power_state).toBe("running");
    expect(v.pid).not.toBe(pid);
    parent = next;
  });

  test("forkOf: the child of the running VM runs and names its parent; a changed forkOf replaces it", async () => {
    child = await checkAndCreate(urns.child, childNews());
    expect(child.outs).toMatchObject({ name: "child", forkOf: parent.id, forkedFrom: parent.id, templateId: null, powerState: "running", chainDepth: 2 });
    expect((await engineVm(child.id)).power_state).toBe("running");
    expect((await engineVm(parent.id)).power_state).toBe("running");
    const same = await refreshAndUp(urns.child, child, childNews());
    expect(same.diff.changes).toBe("none");
    const checked = await server.check(urns.child, child.inputs, childNews({ forkOf: "vm-other" }));
    const diff = await server.diff(urns.child, child.id, child.outs, checked.inputs);
    expect(diff).toMatchObject({ changes: "some", replaces: ["forkOf"], deleteBeforeReplace: true });
  });

  test("drift: a forked child removed outside reads as gone and is forked again", async () => {
    await engine.client.vms.delete(child.id);
    expect((await server.read(urns.child, child.id, child.outs, child.inputs)).id).toBe("");
    const again = await checkAndCreate(urns.child, childNews());
    expect(again.id).not.toBe(child.id);
    expect(again.outs).toMatchObject({ forkedFrom: parent.id, powerState: "running" });
    expect((await engineVm(again.id)).power_state).toBe("running");
    child = again;
  });

  test("import: Read from the id alone hands back the inputs, which diff empty", async () => {
    const p = await server.read(urns.parent, parent.id, { ...conn(), __provider: text.vm });
    expect(p.inputs).toMatchObject({ name: "parent", templateId: fx.templateId, forkOf: null, powerState: "running" });
    const c = await server.read(urns.child, child.id, { ...conn(), __provider: text.vm });
    expect(c.inputs).toMatchObject({ name: "child", templateId: null, forkOf: parent.id, datastoreId: null, powerState: "running" });
    const checked = await server.check(urns.child, c.inputs!, childNews());
    expect((await server.diff(urns.child, child.id, c.properties, checked.inputs)).changes).toBe("none");
  });

  test("a fleet's powerState changes in place and powers its members on", async () => {
    fleet = await checkAndCreate(urns.fleet, fleetNews());
    expect(fleet.outs).toMatchObject({ powerState: "stopped" });
    const { diff, next } = await refreshAndUp(urns.fleet, fleet, fleetNews({ powerState: "running" }));
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(next.outs).toMatchObject({ powerState: "running", membersHealthy: true });
    for (const m of next.outs.vms as { id: string }[]) expect((await engineVm(m.id)).power_state).toBe("running");
    expect(next.outs.membersRunning).toBe(1);
    fleet = next;
  });

  test("drift: a running fleet whose member's QEMU died refreshes powerState stopped; the update powers the member on again", async () => {
    const member = (fleet.outs.vms as { id: string }[])[0].id;
    const pid = (await engineVm(member)).pid!;
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 200 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 25));
    const { diff, refreshed, next } = await refreshAndUp(urns.fleet, fleet, fleetNews({ powerState: "running" }));
    expect(refreshed).toMatchObject({ powerState: "stopped", membersRunning: 0, membersHealthy: true });
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(next.outs).toMatchObject({ powerState: "running", membersRunning: 1 });
    const v = await engineVm(member);
    expect(v.power_state).toBe("running");
    expect(v.pid).not.toBe(pid);
    fleet = next;
    expect((await refreshAndUp(urns.fleet, fleet, fleetNews({ powerState: "running" }))).diff.changes).toBe("none");
  });

  test("delete: the fleet and the VMs go, and every QEMU they ran is gone", async () => {
    await server.delete(urns.fleet, fleet.id, fleet.outs);
    await server.delete(urns.child, child.id, child.outs);
    await server.delete(urns.parent, parent.id, parent.outs);
    expect(await engine.client.vms.list()).toEqual([]);
    expect(await engine.client.fleets.list()).toEqual([]);
    expect(pids.size).toBeGreaterThan(0);
    for (const pid of pids) {
      expect(await pidGoneSoon(pid)).toBe(true);
    }
  });
});
