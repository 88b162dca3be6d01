/**
 * InstantCloneParent and Vm's `instantCloneOf` through the Pulumi SDK's own dynamic-provider
 * gRPC server against a real engine with real QEMU (TCG, firmware-only VMs): check, bad input
 * naming the input, a parent captured from a running VM (started again), an empty diff,
 * import, an instant clone running on its own delta, drift (the clone deleted outside reads
 * gone and is cloned again; a parent whose RAM file vanished reads gone and is captured again),
 * warmCount (set at create, changed in place, a change outside read back and put back, 65
 * refused by check), delete refused while the parent has children naming them, and with
 * waitForChildrenOnDestroy a delete that waits until its child is deleted.
 */
import { promises as fs, existsSync } from "node:fs";
import * as path from "node:path";
import type { VmWire } from "../../engine/client";
import { instantCloneParentProvider, vmProvider } from "../../pulumi";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, killAllVms, vmFixture } from "../support/vms";
import { waitFor } from "../support/wait";
import { DynamicProviderProcess, makeProjectDirs, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "./support/provider-host";

jest.setTimeout(180_000);

type Props = Record<string, unknown>;

let engine: TestEngine;
let tmpfsDir: string;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
let parentText = "";
let vmText = "";
let src: VmWire;
let templateId: string;

const conn = () => ({ endpoint: engine.engine.url, token: engine.engine.token! });

beforeAll(async () => {
  engine = await startTestEngine({ engine: { accel: "tcg" } });
  tmpfsDir = engine.engine.runner.settings.parentTmpfsDir!;
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  parentText = (await serializeProvider(instantCloneParentProvider)).text;
  vmText = (await serializeProvider(vmProvider)).text;
  const fx = await vmFixture(engine.client, engine.dir);
  templateId = fx.templateId;
  src = await engine.client.vms.start((await createVm(engine.client, "app", fx.templateId)).id);
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  if (engine) await killAllVms(path.join(engine.stateDir, "vms"));
  await engine?.stop();
  if (tmpfsDir) await fs.rm(tmpfsDir, { recursive: true, force: true });
});

describe("InstantCloneParent and Vm instantCloneOf through the dynamic-provider gRPC server with real QEMU", () => {
  const parentUrn = urnOf("InstantCloneParent", "base");
  const cloneUrn = urnOf("Vm", "clone");
  const parentNews = (over: Props = {}): Props => ({ sourceVmId: src.id, name: "base", warmCount: 1, ...conn(), __provider: parentText, ...over });
  const warmReady = (parentId: string, n: number) =>
    waitFor(`${n} pre-started children of ${parentId}`, async () => {
      const p = (await engine.client.parents.get(parentId))!;
      return p.warm_ready === n ? p : null;
    }, 60_000);
  const cloneNews = (parentId: string, over: Props = {}): Props => ({ name: "clone", instantCloneOf: parentId, powerState: "running", ...conn(), __provider: vmText, ...over });
  let parent: { id: string; inputs: Props; outs: Props };
  let clone: { id: string; inputs: Props; outs: Props };

  test("check: a missing sourceVmId, a bad name, ramLocation and warmCount; a clone with a template too and no powerState; each named in camelCase", async () => {
    const bad = await server.check(parentUrn, {}, { name: "no spaces", ramLocation: "nvme", warmCount: 65, ...conn(), __provider: parentText });
    expect(bad.failures.map((f) => f.property).sort()).toEqual(["name", "ramLocation", "sourceVmId", "warmCount"]);
    expect(bad.failures.find((f) => f.property === "warmCount")!.reason).toBe("must be between 0 and 64 (got 65)");
    expect((await server.check(parentUrn, {}, parentNews())).failures).toEqual([]);
    const badClone = await server.check(cloneUrn, {}, cloneNews("parent-x", { templateId, powerState: undefined }));
    expect(badClone.failures.map((f) => f.property).sort()).toEqual(["powerState", "templateId"]);
  });

  test("an unknown or stopped sourceVmId fails naming sourceVmId, and changes nothing", async () => {
    const stopped = await createVm(engine.client, "stopped", templateId);
    const unknown = await server.check(parentUrn, {}, parentNews({ sourceVmId: "vm-0000000000000000" }));
    await expect(server.create(parentUrn, unknown.inputs)).rejects.toThrow(/^CF_NOT_FOUND: cannot capture VM vm-0000000000000000 as instant-clone parent "base": .*sourceVmId/);
    const notRunning = await server.check(parentUrn, {}, parentNews({ sourceVmId: stopped.id }));
    await expect(server.create(parentUrn, notRunning.inputs)).rejects.toThrow(/^CF_CONFLICT: .*is not running.*\(input sourceVmId\)$/);
    expect(await engine.client.parents.list()).toEqual([]);
    expect((await engine.client.vms.get(stopped.id))!.power_state).toBe("stopped");
    await engine.client.vms.delete(stopped.id);
  });

  test("create: the running VM is captured and started again; its files exist; a same-input diff is empty", async () => {
    const checked = await server.check(parentUrn, {}, parentNews());
    const created = await server.create(parentUrn, checked.inputs);
    parent = { id: created.id, inputs: checked.inputs, outs: created.properties };
    expect(parent.outs).toMatchObject({ sourceVmId: src.id, name: "base", state: "ready", ramLocation: "tmpfs", restartSource: true, waitForChildrenOnDestroy: false, warmCount: 1, children: [] });
    expect((await engine.client.parents.get(parent.id))!.warm_count).toBe(1);
    await warmReady(parent.id, 1);
    for (const f of [parent.outs.ramPath, parent.outs.deviceStatePath, parent.outs.diskPath] as string[]) expect(existsSync(f)).toBe(true);
    const after = (await engine.client.vms.get(src.id))!;
    expect(after.power_state).toBe("running");
    expect(after.disk_chain[1]).toBe(parent.outs.diskPath);
    const read = await server.read(parentUrn, parent.id, parent.outs, parent.inputs);
    expect((await server.diff(parentUrn, parent.id, read.properties, (await server.check(parentUrn, parent.inputs, parentNews())).inputs)).changes).toBe("none");
    const renamed = await server.diff(parentUrn, parent.id, read.properties, (await server.check(parentUrn, parent.inputs, parentNews({ name: "other" }))).inputs);
    expect(renamed).toMatchObject({ changes: "some", replaces: ["name"], deleteBeforeReplace: true });
    const waiting = await server.diff(parentUrn, parent.id, read.properties, (await server.check(parentUrn, parent.inputs, parentNews({ waitForChildrenOnDestroy: true }))).inputs);
    expect(waiting).toMatchObject({ changes: "some", replaces: [] });
  });

  test("drift: a parent whose RAM file vanished reads gone and is captured again", async () => {
    await fs.rm(parent.outs.ramPath as string);
    expect((await server.read(parentUrn, parent.id, parent.outs, parent.inputs)).id).toBe("");
    const created = await server.create(parentUrn, (await server.check(parentUrn, {}, parentNews())).inputs);
    expect(created.id).not.toBe(parent.id);
    expect(await engine.client.parents.get(parent.id)).toBeNull();
    expect(created.properties).toMatchObject({ name: "base", state: "ready" });
    parent = { id: created.id, inputs: parent.inputs, outs: created.properties };
  });

  test("an instant clone via instantCloneOf runs at once on its own delta; a same-input diff is empty; import hands back its inputs", async () => {
    const checked = await server.check(cloneUrn, {}, cloneNews(parent.id));
    expect(checked.failures).toEqual([]);
    const created = await server.create(cloneUrn, checked.inputs);
    clone = { id: created.id, inputs: checked.inputs, outs: created.properties };
    expect(clone.outs).toMatchObject({ name: "clone", instantCloneOf: parent.id, templateId: null, forkOf: null, provisionedBy: "instant-clone", powerState: "running" });
    const v = (await engine.client.vms.get(clone.id))!;
    expect(v).toMatchObject({ instant_clone_of: parent.id, power_state: "running" });
    expect(v.disk_chain[1]).toBe(parent.outs.diskPath);
    const read = await server.read(cloneUrn, clone.id, clone.outs, clone.inputs);
    expect((await server.diff(cloneUrn, clone.id, read.properties, (await server.check(cloneUrn, clone.inputs, cloneNews(parent.id))).inputs)).changes).toBe("none");
    const imported = await server.read(cloneUrn, clone.id, { ...conn(), __provider: vmText });
    expect(imported.inputs).toMatchObject({ name: "clone", instantCloneOf: parent.id, templateId: null, datastoreId: null });
    expect((await server.diff(cloneUrn, clone.id, imported.properties, (await server.check(cloneUrn, imported.inputs!, cloneNews(parent.id))).inputs)).changes).toBe("none");
    const importedParent = await server.read(parentUrn, parent.id, { ...conn(), __provider: parentText });
    expect(importedParent.inputs).toMatchObject({ sourceVmId: src.id, name: "base", warmCount: 1 });
    expect((await server.diff(parentUrn, parent.id, importedParent.properties, (await server.check(parentUrn, importedParent.inputs!, parentNews())).inputs)).changes).toBe("none");
  });

  test("drift: the clone deleted outside Pulumi reads gone and is cloned again from its parent", async () => {
    await engine.client.vms.delete(clone.id);
    expect((await server.read(cloneUrn, clone.id, clone.outs, clone.inputs)).id).toBe("");
    const created = await server.create(cloneUrn, (await server.check(cloneUrn, {}, cloneNews(parent.id))).inputs);
    expect(created.id).not.toBe(clone.id);
    expect((await engine.client.vms.get(created.id))!).toMatchObject({ name: "clone", instant_clone_of: parent.id, power_state: "running" });
    clone = { id: created.id, inputs: clone.inputs, outs: created.properties };
  });

  test("warmCount: a change is an update in place the engine follows; a change outside reads back and the next update puts it back; 65 changes nothing", async () => {
    const news = async (over: Props) => (await server.check(parentUrn, parent.inputs, parentNews(over))).inputs;
    const two = await news({ warmCount: 2 });
    expect(await server.diff(parentUrn, parent.id, parent.outs, two)).toMatchObject({ changes: "some", replaces: [] });
    const updated = await server.update(parentUrn, parent.id, parent.outs, two);
    expect(updated).toMatchObject({ warmCount: 2, name: "base" });
    expect((await engine.client.parents.get(parent.id))!.warm_count).toBe(2);
    await warmReady(parent.id, 2);
    parent = { id: parent.id, inputs: two, outs: updated };
    expect((await server.diff(parentUrn, parent.id, parent.outs, two)).changes).toBe("none");

    // Changed outside Pulumi: a refresh reads the engine's count, and the diff against the program is an update.
    await engine.client.parents.update(parent.id, { warm_count: 0 });
    const read = await server.read(parentUrn, parent.id, parent.outs, parent.inputs);
    expect(read.properties.warmCount).toBe(0);
    expect(await server.diff(parentUrn, parent.id, read.properties, two)).toMatchObject({ changes: "some", replaces: [] });
    parent.outs = await server.update(parentUrn, parent.id, read.properties, two);
    expect((await engine.client.parents.get(parent.id))!.warm_count).toBe(2);

    const bad = await server.check(parentUrn, parent.inputs, parentNews({ warmCount: 65 }));
    expect(bad.failures).toEqual([{ property: "warmCount", reason: "must be between 0 and 64 (got 65)" }]);
    expect((await engine.client.parents.get(parent.id))!.warm_count).toBe(2);
  });

  test("delete: refused while the parent has a child, naming it; with waitForChildrenOnDestroy it waits until the child is gone", async () => {
    await expect(server.delete(parentUrn, parent.id, parent.outs)).rejects.toThrow(/^CF_CONFLICT: cannot delete instant-clone parent .*clone/);
    expect((await engine.client.parents.get(parent.id))!.state).toBe("ready");
    const waiting = server.delete(parentUrn, parent.id, { ...parent.outs, waitForChildrenOnDestroy: true });
    await new Promise((r) => setTimeout(r, 1000));
    // Still there while its child runs.
    expect((await engine.client.parents.get(parent.id))!.state).toBe("ready");
    await server.delete(cloneUrn, clone.id, clone.outs);
    await waiting;
    expect(await engine.client.parents.list()).toEqual([]);
    expect(existsSync(parent.outs.ramPath as string)).toBe(false);
    expect((await engine.client.vms.list()).map((v) => v.name)).toEqual(["app"]);
    await server.delete(parentUrn, parent.id, parent.outs);
  });
});
