/**
 * clonefleet_vm's `host_id` and migration policy, and data.clonefleet_host, through the plugin
 * protocol against two real engine processes on one state folder (hosts `local` and `b`) with
 * real QEMU (TCG, firmware-only VMs): validation, host lookups, a running VM created on `local`,
 * a host_id change planned in place and applied as a live migration (disk data intact), drift
 * (moved back outside Terraform) planned and moved again, the policy changed in place and its
 * drift repaired, an unknown host and a stopped VM that is to move refused with nothing changed,
 * import, and destroy with every QEMU gone.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { chainHas, checkClean, killAllVms, pidGoneSoon, vmFixture, writeInVm } from "../support/vms";
import { DiagnosticsError, TerraformWalk, diagnosticField, type Configuration, type LaunchOptions, type Plan } from "./driver";

jest.setTimeout(180_000);

const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");
const launch = (): LaunchOptions => ({ command: PROVIDER_BIN, args: [] });
const HEARTBEAT = ["--heartbeat-interval-ms", "250"];

const APP = "clonefleet_vm.app";
const HOST_B = "clonefleet_host.b";
const HOST_LOCAL = "clonefleet_host.local";


describe("clonefleet_vm host_id and migration policy, data.clonefleet_host, through the plugin protocol with two engine hosts", () => {
  let dir: string;
  let stateDir: string;
  let a: EngineProcess;
  let b: EngineProcess;
  let fx: { datastoreId: string; templateId: string };
  const walk = new TerraformWalk(launch());
  const pids = new Set<number>();
  const declared: { host: string; power: string; notify: number | null; ack: string | null } = { host: "local", power: "running", notify: null, ack: null };

  let token: string;
  const provider = () => ({ endpoint: a.url, token });
  const config = (): Configuration => ({
    provider: provider(),
    resources: {
      [APP]: {
        name: "app",
        template_id: fx.templateId,
        clone_mode: "full",
        power_state: declared.power,
        host_id: declared.host,
        migration_notify_timeout_seconds: declared.notify,
        migration_on_missing_ack: declared.ack,
      },
    },
    data: { [HOST_B]: { name: "b" }, [HOST_LOCAL]: { id: "local" } },
  });
  const actions = (plan: Plan) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  const change = (plan: Plan, address: string) => plan.changes.find((c) => c.address === address)!;
  const noChanges = async () => expect(actions(await walk.plan(config()))).toEqual({ [APP]: "no-op" });
  const engineVm = async (id: unknown) => {
    const v = (await a.client.vms.get(id as string))!;
    if (v.pid) pids.add(v.pid);
    return v;
  };
  const migrations = async () => (await a.client.jobs.list()).filter((j) => j.kind === "vm.migrate");

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-tf-hosts-"));
    stateDir = path.join(dir, "state");
    a = await spawnEngine(stateDir, HEARTBEAT);
    b = await spawnEngine(stateDir, [...HEARTBEAT, "--host-name", "b"]);
    token = (await fs.readFile(path.join(stateDir, "token"), "utf8")).trim();
    fx = await vmFixture(a.client, dir);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await killAllVms(path.join(stateDir, "vms"));
    await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  test("validate: host_id, migration_notify_timeout_seconds and migration_on_missing_ack are checked, each diagnostic naming its attribute; a host lookup takes id or name", async () => {
    const diags = await walk.validate({
      provider: provider(),
      resources: {
        "clonefleet_vm.bad": { name: "bad", template_id: "tpl-x", host_id: "no/such", migration_notify_timeout_seconds: 99999, migration_on_missing_ack: "maybe" },
        "clonefleet_vm.frac": { name: "frac", template_id: "tpl-x", migration_notify_timeout_seconds: 1.5 },
      },
      data: { "clonefleet_host.neither": {}, "clonefleet_host.both": { id: "local", name: "local" } },
    });
    expect(diags.map(diagnosticField).sort()).toEqual(["host_id", "id", "migration_notify_timeout_seconds", "migration_notify_timeout_seconds", "migration_on_missing_ack", "name"]);
    expect(diags.find((d) => diagnosticField(d) === "migration_on_missing_ack")!.detail).toMatch(/abort, proceed \(got "maybe"\)/);
    expect(diags.find((d) => /99999/.test(d.detail ?? ""))!.detail).toMatch(/between 0 and 3600/);
  });

  test("data.clonefleet_host reads a host by name or by id with its health", async () => {
    const plan = await walk.plan({ provider: provider(), data: config().data });
    expect(plan.data[HOST_B]).toMatchObject({ id: "b", name: "b", api_url: b.url, status: "up", down_reason: null, vm_count: 0 });
    expect(plan.data[HOST_LOCAL]).toMatchObject({ id: "local", name: "local", api_url: a.url, status: "up" });
    expect(Date.parse((plan.data[HOST_B] as { last_heartbeat_at: string }).last_heartbeat_at)).toBeGreaterThan(Date.now() - 60_000);
    const err = await walk.plan({ provider: provider(), data: { "clonefleet_host.x": { name: "nowhere" } } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    const [d] = (err as DiagnosticsError).diagnostics;
    expect(diagnosticField(d)).toBe("name");
    expect(d.detail).toMatch(/no host "nowhere" on the engine \(its hosts: b, local\)/);
  });

  test("create: a running VM on host local with the default policy; the next plan is empty", async () => {
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "create" });
    await walk.apply(plan);
    const s = walk.stateOf(APP)!;
    expect(s).toMatchObject({ host_id: "local", power_state: "running", migration_notify_timeout_seconds: 0, migration_on_missing_ack: "proceed" });
    const v = await engineVm(s.id);
    expect(v).toMatchObject({ host_id: "local", power_state: "running" });
    await noChanges();
  });

  test("host_id local → b plans an in-place update; the apply live-migrates the running VM and its disk data survives", async () => {
    const id = walk.stateOf(APP)!.id;
    const before = await engineVm(id);
    // Written through the running QEMU on host local; read back from the file after the move.
    await writeInVm(before.state_dir!, "1M", 0x3c);
    declared.host = "b";
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    const c = change(plan, APP);
    expect(c.requiresReplace).toEqual([]);
    expect(c.prior.getAttr("host_id").asString()).toBe("local");
    expect(c.planned.getAttr("host_id").asString()).toBe("b");
    await walk.apply(plan);
    expect(walk.stateOf(APP)).toMatchObject({ id, host_id: "b", power_state: "running", state: "ready" });
    const after = await engineVm(id);
    expect(after).toMatchObject({ host_id: "b", power_state: "running" });
    expect(after.pid).not.toBe(before.pid);
    expect(after.state_dir).toBe(path.join(stateDir, "hosts", "b", "vms", id as string));
    expect(await pidGoneSoon(before.pid!)).toBe(true);
    expect(await chainHas(after.disk_path, "1M", 0x3c)).toBe(true);
    expect(await checkClean(after.disk_path)).toBe(true);
    const jobs = await migrations();
    expect(jobs.map((j) => [j.state, j.host_id])).toEqual([["succeeded", "local"]]);
    expect((await walk.plan(config())).data[HOST_B]).toMatchObject({ vm_count: 1 });
    await noChanges();
  });

  test("drift: a VM migrated back outside Terraform plans host_id back to b, and the apply moves it again", async () => {
    const id = walk.stateOf(APP)!.id as string;
    await a.client.waitJob((await a.client.vms.migrate(id, { host_id: "local" })).id, { timeoutMs: 120_000 });
    expect((await engineVm(id)).host_id).toBe("local");
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    const c = change(plan, APP);
    expect(c.requiresReplace).toEqual([]);
    expect(c.prior.getAttr("host_id").asString()).toBe("local");
    expect(c.planned.getAttr("host_id").asString()).toBe("b");
    await walk.apply(plan);
    expect(walk.stateOf(APP)).toMatchObject({ host_id: "b", power_state: "running" });
    expect(await engineVm(id)).toMatchObject({ host_id: "b", power_state: "running" });
    expect(await chainHas((await engineVm(id)).disk_path, "1M", 0x3c)).toBe(true);
    expect((await migrations()).length).toBe(3);
    await noChanges();
  });

  test("the migration policy changes in place without moving the VM; policy drift is put back", async () => {
    const id = walk.stateOf(APP)!.id as string;
    const pid = (await engineVm(id)).pid;
    declared.notify = 1;
    declared.ack = "abort";
    let plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    expect(change(plan, APP).requiresReplace).toEqual([]);
    await walk.apply(plan);
    expect(walk.stateOf(APP)).toMatchObject({ host_id: "b", migration_notify_timeout_seconds: 1, migration_on_missing_ack: "abort" });
    expect(await engineVm(id)).toMatchObject({ host_id: "b", pid, migration_notify_timeout_seconds: 1, migration_on_missing_ack: "abort" });
    await noChanges();

    await a.client.vms.update(id, { migration_notify_timeout_seconds: 0, migration_on_missing_ack: "proceed" });
    plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    expect(change(plan, APP).prior.getAttr("migration_on_missing_ack").asString()).toBe("proceed");
    await walk.apply(plan);
    expect(await engineVm(id)).toMatchObject({ pid, migration_notify_timeout_seconds: 1, migration_on_missing_ack: "abort" });
    expect((await migrations()).length).toBe(3);
    await noChanges();
  });

  test("an unknown host_id is refused at plan with a diagnostic naming host_id, and nothing changes", async () => {
    const id = walk.stateOf(APP)!.id as string;
    const before = await engineVm(id);
    const stateBefore = walk.stateOf(APP);
    declared.host = "nowhere";
    declared.notify = 9;
    const err = await walk.plan(config()).catch((e: unknown) => e);
    declared.host = "b";
    declared.notify = 1;
    expect(err).toBeInstanceOf(DiagnosticsError);
    const [d] = (err as DiagnosticsError).diagnostics;
    expect(d.summary).toBe("Unknown host");
    expect(diagnosticField(d)).toBe("host_id");
    expect(d.detail).toMatch(/^host_id names no host on the engine at \S+ \(got "nowhere"\)/);
    // Not even the policy in the same change was applied.
    expect(await engineVm(id)).toMatchObject({ host_id: "b", power_state: "running", pid: before.pid, migration_notify_timeout_seconds: 1 });
    expect(walk.stateOf(APP)).toEqual(stateBefore);
    expect((await migrations()).length).toBe(3);
    await noChanges();
  });

  test("the policy decides a migration whose guest never acknowledges: abort fails the apply naming host_id and the VM stays; proceed moves it", async () => {
    const id = walk.stateOf(APP)!.id as string;
    const before = await engineVm(id);
    declared.host = "local";
    let plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    const err = await walk.apply(plan).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    const [d] = (err as DiagnosticsError).diagnostics;
    expect(diagnosticField(d)).toBe("host_id");
    expect(d.detail).toMatch(/moving VM app from host b to host local failed \(job \S+ failed\): migration of VM app aborted: .*policy is abort; it runs on at host b/);
    expect(d.detail).toMatch(/CF_MIGRATION_ABORTED/);
    expect(await engineVm(id)).toMatchObject({ host_id: "b", power_state: "running", pid: before.pid });
    const failed = (await migrations()).find((j) => j.state === "failed")!;
    expect(failed.error).toMatchObject({ code: "CF_MIGRATION_ABORTED" });
    expect(walk.stateOf(APP)).toMatchObject({ host_id: "b" });

    declared.ack = "proceed";
    plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    await walk.apply(plan);
    expect(walk.stateOf(APP)).toMatchObject({ host_id: "local", power_state: "running", migration_on_missing_ack: "proceed" });
    expect(await engineVm(id)).toMatchObject({ host_id: "local", power_state: "running", migration_on_missing_ack: "proceed" });
    const jobs = await migrations();
    expect(jobs.length).toBe(5);
    const moved = jobs.find((j) => j.state === "succeeded" && j.steps?.some((st) => st.step === "ack_missing" || st.step === "notice_undeliverable"));
    expect(moved).toBeDefined();
    await noChanges();
  });

  test("a stopped VM that is to move but stay stopped is refused naming host_id; declared running it starts and then migrates", async () => {
    const id = walk.stateOf(APP)!.id as string;
    // Stopped outside Terraform at once (a firmware-only guest ignores the ACPI power-down).
    await a.client.vms.stop(id, { timeout_seconds: 0 });
    declared.host = "b";
    declared.power = "stopped";
    let plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    const err = await walk.apply(plan).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    const [d] = (err as DiagnosticsError).diagnostics;
    expect(diagnosticField(d)).toBe("host_id");
    expect(d.detail).toMatch(/VM app is stopped on host local, and only a running VM moves to another host/);
    expect(await engineVm(id)).toMatchObject({ host_id: "local", power_state: "stopped" });
    expect((await migrations()).length).toBe(5);

    declared.power = "running";
    plan = await walk.plan(config());
    expect(actions(plan)).toEqual({ [APP]: "update" });
    await walk.apply(plan);
    expect(walk.stateOf(APP)).toMatchObject({ host_id: "b", power_state: "running" });
    expect(await engineVm(id)).toMatchObject({ host_id: "b", power_state: "running" });
    expect((await migrations()).length).toBe(6);
    await noChanges();
  });

  test("import by id reproduces the state, host and policy included, and the next plan is empty", async () => {
    const other = new TerraformWalk(launch());
    const cfg = config();
    await other.importResource(cfg, APP, walk.stateOf(APP)!.id as string);
    const { timeouts: _ignored, ...expected } = walk.stateOf(APP)!;
    expect(other.stateOf(APP)).toMatchObject(expected);
    expect(other.stateOf(APP)).toMatchObject({ host_id: "b", migration_notify_timeout_seconds: 1, migration_on_missing_ack: "proceed" });
    const plan = await other.plan(cfg);
    expect(plan.changes.filter((c) => c.action !== "no-op").map((c) => c.address)).toEqual([]);
  });

  test("destroy removes the VM, and every QEMU it ran on either host is gone", async () => {
    const plan = await walk.destroy(config());
    expect(actions(plan)).toEqual({ [APP]: "delete" });
    expect(await a.client.vms.list()).toEqual([]);
    expect(pids.size).toBeGreaterThan(2);
    for (const pid of pids) {
      expect(await pidGoneSoon(pid)).toBe(true);
    }
    for (const err of walk.stderr) expect(err).not.toContain(token);
  });
});
