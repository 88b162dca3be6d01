/**
 * Snapshot through the Pulumi SDK's own dynamic-provider gRPC server against a real engine with
 * real QEMU (TCG, a firmware-only VM that keeps running): check, an unknown vmId, a snapshot of
 * the running VM, an empty diff, import, drift (consolidated outside → read gone → created
 * again), a changed name replacing it, and delete = live consolidation.
 */
import * as path from "node:path";
import type { VmWire } from "../../engine/client";
import { snapshotProvider } from "../../pulumi";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, killAllVms, vmFixture } from "../support/vms";
import { cleanCheck, consolidate, withQmp } from "../snapshots/helpers";
import { DynamicProviderProcess, makeProjectDirs, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "./support/provider-host";

jest.setTimeout(180_000);

type Props = Record<string, unknown>;

let engine: TestEngine;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
let text = "";
let vm: VmWire;
let baseDepth: number;

const conn = () => ({ endpoint: engine.engine.url, token: engine.engine.token! });
const engineVm = async () => (await engine.client.vms.get(vm.id))!;
const status = () => withQmp(vm.state_dir!, async (q) => (await q.execute("query-status")).status);

beforeAll(async () => {
  engine = await startTestEngine({ engine: { accel: "tcg" } });
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  text = (await serializeProvider(snapshotProvider)).text;
  const fx = await vmFixture(engine.client, engine.dir);
  vm = await engine.client.vms.start((await createVm(engine.client, "app", fx.templateId)).id);
  baseDepth = vm.chain_depth;
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  if (engine) await killAllVms(path.join(engine.stateDir, "vms"));
  await engine?.stop();
});

describe("Snapshot through the dynamic-provider gRPC server with a running QEMU VM", () => {
  const urn = urnOf("Snapshot", "nightly");
  const news = (over: Props = {}): Props => ({ vmId: vm.id, name: "nightly", ...conn(), __provider: text, ...over });
  let snap: { id: string; inputs: Props; outs: Props };

  test("check: a missing vmId and a bad name, each named in camelCase", async () => {
    const bad = await server.check(urn, {}, { name: "no spaces", ...conn(), __provider: text });
    expect(bad.failures.map((f) => f.property).sort()).toEqual(["name", "vmId"]);
    expect((await server.check(urn, {}, news())).failures).toEqual([]);
  });

  test("an unknown vmId fails naming vmId, and changes nothing", async () => {
    const checked = await server.check(urn, {}, news({ vmId: "vm-0000000000000000" }));
    await expect(server.create(urn, checked.inputs)).rejects.toThrow(/^CF_NOT_FOUND: cannot snapshot VM vm-0000000000000000 as "nightly": vmId: /);
    expect(await engine.client.snapshots.list(vm.id)).toEqual([]);
    expect((await engineVm()).chain_depth).toBe(baseDepth);
  });

  test("create on the running VM: one layer longer, the frozen layer is sound; a same-input diff is empty", async () => {
    const checked = await server.check(urn, {}, news());
    const created = await server.create(urn, checked.inputs);
    snap = { id: created.id, inputs: checked.inputs, outs: created.properties };
    const after = await engineVm();
    expect(snap.outs).toMatchObject({ vmId: vm.id, name: "nightly", state: "ready", frozenDiskPath: after.disk_chain[1] });
    expect(after.chain_depth).toBe(baseDepth + 1);
    expect(await status()).toBe("running");
    expect(await cleanCheck(snap.outs.frozenDiskPath as string)).toBe(true);
    const read = await server.read(urn, snap.id, snap.outs, snap.inputs);
    expect(read.properties).toMatchObject({ frozenDiskPath: snap.outs.frozenDiskPath, createdAt: snap.outs.createdAt });
    expect((await server.diff(urn, snap.id, read.properties, (await server.check(urn, snap.inputs, news())).inputs)).changes).toBe("none");
    const renamed = await server.diff(urn, snap.id, read.properties, (await server.check(urn, snap.inputs, news({ name: "weekly" }))).inputs);
    expect(renamed).toMatchObject({ changes: "some", replaces: ["name"], deleteBeforeReplace: true });
  });

  test("import: Read from the id alone hands back the inputs, which diff empty", async () => {
    const imported = await server.read(urn, snap.id, { ...conn(), __provider: text });
    expect(imported.inputs).toMatchObject({ vmId: vm.id, name: "nightly" });
    const checked = await server.check(urn, imported.inputs!, news());
    expect((await server.diff(urn, snap.id, imported.properties, checked.inputs)).changes).toBe("none");
  });

  test("drift: consolidated outside Pulumi, the snapshot reads gone and is taken again", async () => {
    await consolidate(engine.client, snap.id);
    expect((await engineVm()).chain_depth).toBe(baseDepth);
    expect((await server.read(urn, snap.id, snap.outs, snap.inputs)).id).toBe("");
    const created = await server.create(urn, (await server.check(urn, {}, news())).inputs);
    expect(created.id).not.toBe(snap.id);
    expect((await engineVm()).chain_depth).toBe(baseDepth + 1);
    snap = { id: created.id, inputs: snap.inputs, outs: created.properties };
  });

  test("delete consolidates live: one layer shorter, the VM still runs, the disk checks clean; deleting again is a no-op", async () => {
    await server.delete(urn, snap.id, snap.outs);
    expect(await engine.client.snapshots.list(vm.id)).toEqual([]);
    const after = await engineVm();
    expect(after.chain_depth).toBe(baseDepth);
    expect(after.disk_path).toBe(snap.outs.frozenDiskPath);
    expect(after.power_state).toBe("running");
    expect(await status()).toBe("running");
    expect(await cleanCheck(after.disk_path)).toBe(true);
    await server.delete(urn, snap.id, snap.outs);
  });
});
