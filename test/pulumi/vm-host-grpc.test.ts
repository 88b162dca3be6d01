/**
 * Vm's `hostId` and migration policy, and getHost, through the Pulumi SDK's own dynamic-provider
 * gRPC server against two real engine processes on one state folder (hosts `local` and `b`)
 * with real QEMU (TCG, firmware-only VMs): check, getHost, a running VM created on `local`, a
 * hostId change diffed in place and updated by a live migration, drift (moved back outside
 * Pulumi) seen by a refresh and moved again, the policy changed in place, an unknown host
 * refused with nothing changed, import, and delete with every QEMU gone.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { getHost, vmProvider } from "../../pulumi";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { chainHas, killAllVms, pidGoneSoon, vmFixture, writeInVm } from "../support/vms";
import { DynamicProviderProcess, makeProjectDirs, serializeProvider, startEngineStub, urnOf, type EngineStub, type ProjectDirs } from "./support/provider-host";

jest.setTimeout(180_000);

type Props = Record<string, unknown>;
interface Created {
  id: string;
  inputs: Props;
  outs: Props;
}

const HEARTBEAT = ["--heartbeat-interval-ms", "250"];

let dir: string;
let stateDir: string;
let a: EngineProcess;
let b: EngineProcess;
let token: string;
let dirs: ProjectDirs;
let stub: EngineStub;
let server: DynamicProviderProcess;
let text: string;
let fx: { datastoreId: string; templateId: string };
const pids = new Set<number>();

const conn = () => ({ endpoint: a.url, token });
const engineVm = async (id: string) => {
  const v = (await a.client.vms.get(id))!;
  if (v.pid) pids.add(v.pid);
  return v;
};
const migrations = async () => (await a.client.jobs.list()).filter((j) => j.kind === "vm.migrate");

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
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-pulumi-hosts-"));
  stateDir = path.join(dir, "state");
  a = await spawnEngine(stateDir, HEARTBEAT);
  b = await spawnEngine(stateDir, [...HEARTBEAT, "--host-name", "b"]);
  token = (await fs.readFile(path.join(stateDir, "token"), "utf8")).trim();
  dirs = await makeProjectDirs();
  stub = await startEngineStub();
  server = await DynamicProviderProcess.launch(dirs.project, stub.address);
  await server.configure({});
  text = (await serializeProvider(vmProvider)).text;
  fx = await vmFixture(a.client, dir);
});

afterAll(async () => {
  await server?.stop();
  await stub?.stop();
  await dirs?.remove();
  await a?.stop();
  await b?.stop();
  await killAllVms(path.join(stateDir, "vms"));
  await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
  await fs.rm(dir, { recursive: true, force: true });
});

describe("Vm hostId and migration policy, getHost, through the dynamic-provider gRPC server with two engine hosts", () => {
  const urn = urnOf("Vm", "app");
  const news = (over: Props = {}): Props => ({ name: "app", templateId: fx.templateId, cloneMode: "full", powerState: "running", hostId: "local", ...conn(), __provider: text, ...over });
  let app: Created;

  test("check: hostId, migrationNotifyTimeoutSeconds and migrationOnMissingAck are checked in camelCase; the policy defaults are filled", async () => {
    const bad = await server.check(urn, {}, news({ hostId: "no/such", migrationNotifyTimeoutSeconds: 99999, migrationOnMissingAck: "maybe" }));
    expect(bad.failures.map((f) => f.property).sort()).toEqual(["hostId", "migrationNotifyTimeoutSeconds", "migrationOnMissingAck"]);
    expect(bad.failures.find((f) => f.property === "migrationOnMissingAck")!.reason).toMatch(/abort, proceed/);
    const ok = await server.check(urn, {}, news({ hostId: undefined }));
    expect(ok.failures).toEqual([]);
    expect(ok.inputs).toMatchObject({ migrationNotifyTimeoutSeconds: 0, migrationOnMissingAck: "proceed" });
  });

  test("getHost reads a host by id or name with its health; an unknown one names the input", async () => {
    expect(await getHost({ name: "b", ...conn() })).toMatchObject({ id: "b", name: "b", apiUrl: b.url, status: "up", downReason: null, vmCount: 0 });
    expect(await getHost({ id: "local", ...conn() })).toMatchObject({ id: "local", apiUrl: a.url, status: "up" });
    await expect(getHost({ id: "nowhere", ...conn() })).rejects.toThrow(/^CF_NOT_FOUND: cannot look up host "nowhere": id: no host "nowhere" on the engine \(its hosts: b, local\)/);
    await expect(getHost({ ...conn() })).rejects.toThrow(/^CF_INVALID_FIELD: .*id: set id or name/);
  });

  test("create: a running VM on host local; a same-input diff is empty", async () => {
    const checked = await server.check(urn, {}, news());
    const created = await server.create(urn, checked.inputs);
    app = { id: created.id, inputs: checked.inputs, outs: created.properties };
    expect(app.outs).toMatchObject({ hostId: "local", powerState: "running", migrationNotifyTimeoutSeconds: 0, migrationOnMissingAck: "proceed" });
    expect(await engineVm(app.id)).toMatchObject({ host_id: "local", power_state: "running" });
    const { diff } = await refreshAndUp(urn, app, news());
    expect(diff.changes).toBe("none");
  });

  test("hostId local → b is an in-place update that live-migrates the running VM; its disk data survives", async () => {
    const before = await engineVm(app.id);
    await writeInVm(before.state_dir!, "2M", 0x5e);
    const { diff, next } = await refreshAndUp(urn, app, news({ hostId: "b" }));
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(next.outs).toMatchObject({ hostId: "b", powerState: "running" });
    const after = await engineVm(app.id);
    expect(after).toMatchObject({ host_id: "b", power_state: "running" });
    expect(after.pid).not.toBe(before.pid);
    expect(await pidGoneSoon(before.pid!)).toBe(true);
    expect(await chainHas(after.disk_path, "2M", 0x5e)).toBe(true);
    expect((await migrations()).map((j) => j.state)).toEqual(["succeeded"]);
    app = next;
    expect((await refreshAndUp(urn, app, news({ hostId: "b" }))).diff.changes).toBe("none");
  });

  test("drift: a VM moved back outside Pulumi refreshes with hostId local, diffs, and the update moves it to b again", async () => {
    await a.client.waitJob((await a.client.vms.migrate(app.id, { host_id: "local" })).id, { timeoutMs: 120_000 });
    const { diff, refreshed, next } = await refreshAndUp(urn, app, news({ hostId: "b" }));
    expect(refreshed).toMatchObject({ hostId: "local" });
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(next.outs).toMatchObject({ hostId: "b", powerState: "running" });
    expect(await engineVm(app.id)).toMatchObject({ host_id: "b", power_state: "running" });
    expect((await migrations()).length).toBe(3);
    app = next;
  });

  test("the migration policy changes in place without moving the VM", async () => {
    const pid = (await engineVm(app.id)).pid;
    const { diff, next } = await refreshAndUp(urn, app, news({ hostId: "b", migrationNotifyTimeoutSeconds: 4, migrationOnMissingAck: "abort" }));
    expect(diff).toEqual({ changes: "some", replaces: [], deleteBeforeReplace: false });
    expect(next.outs).toMatchObject({ hostId: "b", migrationNotifyTimeoutSeconds: 4, migrationOnMissingAck: "abort" });
    expect(await engineVm(app.id)).toMatchObject({ host_id: "b", pid, migration_notify_timeout_seconds: 4, migration_on_missing_ack: "abort" });
    expect((await migrations()).length).toBe(3);
    app = next;
  });

  test("an unknown hostId is refused naming hostId, and nothing changes (not even the policy in the same update)", async () => {
    const before = await engineVm(app.id);
    const checked = await server.check(urn, app.inputs, news({ hostId: "nowhere", migrationNotifyTimeoutSeconds: 9, migrationOnMissingAck: "abort" }));
    // Preview already refuses it (the engine is asked at check); an update that went ahead anyway is refused before any change.
    expect(checked.failures).toEqual([{ property: "hostId", reason: expect.stringMatching(/^names no host on the engine at \S+ \(got "nowhere"\)/) }]);
    expect((await server.diff(urn, app.id, app.outs, checked.inputs)).changes).toBe("some");
    await expect(server.update(urn, app.id, app.outs, checked.inputs)).rejects.toThrow(/CF_NOT_FOUND: cannot update VM \S+: hostId: no host "nowhere" on the engine \(its hosts: b, local\)/);
    expect(await engineVm(app.id)).toMatchObject({ host_id: "b", power_state: "running", pid: before.pid, migration_notify_timeout_seconds: 4 });
    expect((await migrations()).length).toBe(3);
  });

  test("import: Read from the id alone hands back hostId and the policy, which diff empty", async () => {
    const r = await server.read(urn, app.id, { ...conn(), __provider: text });
    expect(r.inputs).toMatchObject({ name: "app", hostId: "b", powerState: "running", migrationNotifyTimeoutSeconds: 4, migrationOnMissingAck: "abort" });
    const checked = await server.check(urn, r.inputs!, news({ hostId: "b", migrationNotifyTimeoutSeconds: 4, migrationOnMissingAck: "abort" }));
    expect((await server.diff(urn, app.id, r.properties, checked.inputs)).changes).toBe("none");
  });

  test("delete: the VM goes from host b, and every QEMU it ran is gone", async () => {
    await server.delete(urn, app.id, app.outs);
    expect(await a.client.vms.list()).toEqual([]);
    expect(pids.size).toBeGreaterThan(2);
    for (const pid of pids) expect(await pidGoneSoon(pid)).toBe(true);
  });
});
