/**
 * Hosts and live migration (S6) with two engine processes on one state folder: host `local`
 * and host `b`. Firmware-only VMs (no guest OS); the guest-side tests are in
 * test/e2e/migrate-guest.test.ts.
 */
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobWire, MigrateResultWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { jobEnded, waitFor as waitUntil } from "../support/wait";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { createVm, killAllVms, qmpOnce, vmFixture } from "../support/vms";
import { cliRunner } from "../support/cli";

const waitFor = <T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 20_000) => waitUntil(what, fn, timeoutMs);
const finished = (job: JobWire) => jobEnded(a.client, job, 120_000);

jest.setTimeout(180_000);

const HEARTBEAT = ["--heartbeat-interval-ms", "250"];

let dir: string;
let stateDir: string;
let a: EngineProcess;
let b: EngineProcess | null = null;
let templateId: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-hosts-"));
  stateDir = path.join(dir, "state");
  a = await spawnEngine(stateDir, HEARTBEAT);
  b = await spawnEngine(stateDir, [...HEARTBEAT, "--host-name", "b"]);
  ({ templateId } = await vmFixture(a.client, dir, 256));
});

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await killAllVms(path.join(stateDir, "vms"));
  await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
  await fs.rm(dir, { recursive: true, force: true });
});

test("a second engine on the same state folder joins as another host; both are listed up", async () => {
  const hosts = await a.client.hosts.list();
  expect(hosts.map((h) => [h.id, h.status])).toEqual([
    ["b", "up"],
    ["local", "up"],
  ]);
  const hb = await b!.client.hosts.get("b");
  expect(hb).toMatchObject({ id: "b", api_url: b!.url, vm_state_root: path.join(stateDir, "hosts", "b", "vms") });
  // The same name twice is refused: two agents must never run the same VMs.
  await expect(spawnEngine(stateDir, [...HEARTBEAT, "--host-name", "b"])).rejects.toThrow(/already served by engine pid/);
});

test("bad migration requests are refused with typed errors and change nothing", async () => {
  const vm = await createVm(a.client, "bad-input", templateId);
  const stopped = await apiError(a.client.vms.migrate(vm.id, { host_id: "b" }));
  expect(stopped).toMatchObject({ status: 409, code: "CF_CONFLICT", field: "id" });
  expect(stopped.message).toMatch(/stopped/);
  await a.client.vms.start(vm.id);
  try {
    expect(await apiError(a.client.vms.migrate(vm.id, { host_id: "nowhere" }))).toMatchObject({ status: 404, code: "CF_NOT_FOUND", field: "host_id" });
    const same = await apiError(a.client.vms.migrate(vm.id, { host_id: "local" }));
    expect(same).toMatchObject({ status: 409, field: "host_id" });
    expect(same.message).toMatch(/already on host local/);
    expect(await apiError(a.client.vms.migrate(vm.id, { host_id: "b", on_missing_ack: "maybe" }))).toMatchObject({ status: 400, field: "on_missing_ack" });
    expect(await apiError(a.client.vms.migrate("vm-0000000000000000", { host_id: "b" }))).toMatchObject({ status: 404, field: "id" });
    expect(await apiError(a.client.vms.update(vm.id, { migration_notify_timeout_seconds: 99999 }))).toMatchObject({ status: 400, field: "migration_notify_timeout_seconds" });
    const after = (await a.client.vms.get(vm.id))!;
    expect(after).toMatchObject({ host_id: "local", power_state: "running", pid: (await a.client.vms.get(vm.id))!.pid, migration_notify_timeout_seconds: 0 });
    expect((await a.client.jobs.list()).filter((j) => j.kind === "vm.migrate")).toEqual([]);
  } finally {
    await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  }
});

test("a running VM migrates to host b: it keeps running there, RAM and disk survive, downtime is reported; requests follow it", async () => {
  const vm = await createVm(a.client, "mover", templateId);
  const started = await a.client.vms.start(vm.id);
  const sourceDir = started.state_dir!;
  // A RAM marker: bytes written through the VM's shared RAM file, read back on the target's.
  const marker = randomBytes(64 * 1024);
  const markerAt = 200 * 1024 * 1024;
  const ram = await fs.open(path.join(sourceDir, "ram"), "r+");
  await ram.write(marker, 0, marker.length, markerAt);
  await ram.close();

  const job = await a.client.vms.migrate(vm.id, { host_id: "b" });
  expect(job.host_id).toBe("local");
  const done = await a.client.waitJob(job.id, { timeoutMs: 120_000 });
  const r = done.result as MigrateResultWire;
  expect(r.source_host_id).toBe("local");
  expect(r.target_host_id).toBe("b");
  expect(typeof r.downtime_ms).toBe("number");
  expect(r.downtime_ms!).toBeGreaterThan(0);
  expect(r.notice).toBeNull();
  expect(r.steps.map((s) => s.step)).toEqual(["accepted", "target_ready", "migration_started", "migration_completed", "target_running", "record_moved", "source_stopped"]);

  const moved = (await a.client.vms.get(vm.id))!;
  expect(moved).toMatchObject({ host_id: "b", power_state: "running" });
  expect(moved.state_dir).toBe(path.join(stateDir, "hosts", "b", "vms", vm.id));
  expect(moved.pid).not.toBe(started.pid);
  // The source QEMU is gone and its folder with it.
  await expect(fs.stat(sourceDir)).rejects.toThrow();
  const back = Buffer.alloc(marker.length);
  const ramB = await fs.open(path.join(moved.state_dir!, "ram"), "r");
  await ramB.read(back, 0, back.length, markerAt);
  await ramB.close();
  expect(back.equals(marker)).toBe(true);
  expect((await a.client.hosts.get("b"))!.vm_count).toBe(1);

  // Requests for the VM sent to host local are carried out by host b's agent.
  const stopped = await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  expect(stopped).toMatchObject({ power_state: "stopped", host_id: "b" });
  const again = await a.client.vms.start(vm.id);
  expect(again).toMatchObject({ power_state: "running", host_id: "b" });
  expect(again.state_dir).toBe(moved.state_dir);

  // And back: a QEMU that was itself a migration's target migrates out again.
  // (The cold start above began with fresh RAM: put the marker in again.)
  const ramAgain = await fs.open(path.join(again.state_dir!, "ram"), "r+");
  await ramAgain.write(marker, 0, marker.length, markerAt);
  await ramAgain.close();
  const backJob = await b!.client.vms.migrate(vm.id, { host_id: "local" });
  expect(backJob.host_id).toBe("b");
  const home = (await b!.client.waitJob(backJob.id, { timeoutMs: 120_000 })).result as MigrateResultWire;
  expect(home.source_host_id).toBe("b");
  expect(home.migrate_ms!).toBeGreaterThan(0);
  expect(home.vm).toMatchObject({ host_id: "local", power_state: "running", state_dir: path.join(stateDir, "vms", vm.id) });
  const round = await a.client.vms.get(vm.id);
  expect(round!.pid).not.toBe(again.pid);
  const backAgain = await fs.open(path.join(round!.state_dir!, "ram"), "r");
  const back2 = Buffer.alloc(marker.length);
  await backAgain.read(back2, 0, back2.length, markerAt);
  await backAgain.close();
  expect(back2.equals(marker)).toBe(true);
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
});

test("a migration whose target QEMU is killed midway leaves the VM running on its source, its record unchanged", async () => {
  const vm = await createVm(a.client, "survivor", templateId);
  const started = await a.client.vms.start(vm.id);
  // 160 MiB of random RAM at 32 MiB/s keeps the stream going for seconds.
  const ram = await fs.open(path.join(started.state_dir!, "ram"), "r+");
  const chunk = randomBytes(4 * 1024 * 1024);
  for (let i = 0; i < 40; i++) await ram.write(chunk, 0, chunk.length, 64 * 1024 * 1024 + i * chunk.length);
  await ram.close();

  const job = await a.client.vms.migrate(vm.id, { host_id: "b", max_bandwidth_bytes_per_sec: 32 * 1024 * 1024 });
  const ready = await waitFor("the stream to start", async () => {
    const j = await a.client.jobs.get(job.id);
    return j.steps?.some((s) => s.step === "migration_started") ? j.steps.find((s) => s.step === "target_ready") : null;
  });
  await new Promise((r) => setTimeout(r, 500));
  process.kill(-(ready.detail!.pid as number), "SIGKILL");

  const failed = await finished(job);
  expect(failed.state).toBe("failed");
  expect(failed.error).toMatchObject({ code: "CF_MIGRATION_FAILED" });
  expect(failed.error!.message).toMatch(/runs on at host local/);
  expect(failed.steps!.map((s) => s.step)).toEqual(expect.arrayContaining(["migration_started", "migration_failed", "target_removed"]));
  const after = (await a.client.vms.get(vm.id))!;
  expect(after).toMatchObject({ host_id: "local", power_state: "running", pid: started.pid, state_dir: started.state_dir });
  await expect(fs.stat(path.join(stateDir, "hosts", "b", "vms", vm.id))).rejects.toThrow();
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
});

test("the source engine killed midway: at its restart the migration is finished or rolled back, never half-done", async () => {
  const vm = await createVm(a.client, "crash-mid", templateId);
  const started = await a.client.vms.start(vm.id);
  const ram = await fs.open(path.join(started.state_dir!, "ram"), "r+");
  const chunk = randomBytes(4 * 1024 * 1024);
  for (let i = 0; i < 40; i++) await ram.write(chunk, 0, chunk.length, 64 * 1024 * 1024 + i * chunk.length);
  await ram.close();
  const job = await a.client.vms.migrate(vm.id, { host_id: "b", max_bandwidth_bytes_per_sec: 32 * 1024 * 1024 });
  await waitFor("the stream to start", async () => (await a.client.jobs.get(job.id)).steps?.some((s) => s.step === "migration_started"));
  await a.kill();
  a = await spawnEngine(stateDir, HEARTBEAT);

  const after = await a.client.jobs.get(job.id);
  const vmNow = (await a.client.vms.get(vm.id))!;
  const sourceDir = path.join(stateDir, "vms", vm.id);
  const targetDir = path.join(stateDir, "hosts", "b", "vms", vm.id);
  if (after.state === "succeeded") {
    expect(vmNow).toMatchObject({ host_id: "b", power_state: "running", state_dir: targetDir });
    await expect(fs.stat(sourceDir)).rejects.toThrow();
  } else {
    expect(after).toMatchObject({ state: "failed", error: { code: "CF_INTERRUPTED" } });
    expect(vmNow).toMatchObject({ host_id: "local", power_state: "running", pid: started.pid, state_dir: sourceDir });
    await expect(fs.stat(targetDir)).rejects.toThrow();
    // The source runs on (QEMU resumes a source whose migration failed): the guest is not left paused.
    await waitFor("the source to run", async () => (await qmpOnce<{ status: string }>(sourceDir, "query-status")).status === "running");
  }
  await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
});

test("CLI: host ls shows health; vm migrate, vm update and typed errors", async () => {
  const { cli, json } = cliRunner(() => ({ endpoint: a.url, stateDir }));
  const hosts = (await json(["host", "ls"])) as { id: string; status: string }[];
  expect(hosts.map((h) => `${h.id}:${h.status}`)).toEqual(["b:up", "local:up"]);
  const text = await cli(["--state-dir", stateDir, "host", "ls"]);
  expect(text.stdout).toMatch(/^b\s+up\s/m);

  const created = (await json(["vm", "create", "--name", "cli-mig", "--template", templateId, "--clone-mode", "full", "--on-missing-ack", "abort"])) as { id: string; migration_on_missing_ack: string };
  expect(created.migration_on_missing_ack).toBe("abort");
  const updated = (await json(["vm", "update", created.id, "--notify-timeout", "0", "--on-missing-ack", "proceed"])) as { migration_on_missing_ack: string };
  expect(updated.migration_on_missing_ack).toBe("proceed");
  const stopped = await cli(["--state-dir", stateDir, "vm", "migrate", created.id, "--to", "b"]);
  expect(stopped.code).toBe(1);
  expect(stopped.stderr).toMatch(/CF_CONFLICT: VM cli-mig is stopped/);
  await json(["vm", "start", created.id]);
  const unknown = await cli(["--state-dir", stateDir, "vm", "migrate", created.id, "--to", "nowhere"]);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/CF_NOT_FOUND: host "nowhere" not found/);
  const moved = (await json(["vm", "migrate", created.id, "--to", "b"])) as MigrateResultWire;
  expect(moved.vm.host_id).toBe("b");
  expect(moved.target_host_id).toBe("b");
  const shown = await cli(["--state-dir", stateDir, "vm", "show", created.id]);
  expect(shown.stdout).toMatch(/host b/);
  await json(["vm", "stop", created.id, "--timeout", "0"]);
});

test("each agent runs its own VMs' work, and a restart of one host leaves the other's VMs and jobs alone", async () => {
  const vm = await createVm(a.client, "on-b", templateId);
  const placed = await a.client.vms.get(vm.id);
  expect(placed!.host_id).toBe("local");
  const created = await a.client.vms.create({ name: "born-on-b", template_id: templateId, clone_mode: "full", host_id: "b" });
  const onB = (await a.client.waitJob(created.id)).result as { id: string; host_id: string };
  expect(onB.host_id).toBe("b");
  // Started through host local's API, carried out by host b's agent, in b's folder.
  const running = await a.client.vms.start(onB.id);
  expect(running.state_dir).toBe(path.join(stateDir, "hosts", "b", "vms", onB.id));
  // A job for b's VM submitted to local is picked up and run by b.
  const snap = await a.client.snapshots.create(onB.id, { name: "s1" });
  expect(snap.host_id).toBe("b");
  await a.client.waitJob(snap.id, { timeoutMs: 60_000 });

  await a.stop();
  a = await spawnEngine(stateDir, HEARTBEAT);
  const info = await a.client.engine();
  const recovery = info.last_recovery as { hostId: string; orphansChecked: boolean; vmRuntime: { crashedVms: string[]; removedStateDirs: string[] } };
  expect(recovery.hostId).toBe("local");
  // Host b was up, so no file was taken for an orphan, and b's VM was not touched.
  expect(recovery.orphansChecked).toBe(false);
  expect(recovery.vmRuntime.crashedVms).not.toContain(onB.id);
  const still = (await a.client.vms.get(onB.id))!;
  expect(still).toMatchObject({ host_id: "b", power_state: "running", pid: running.pid, crashed: false });
  await a.client.vms.stop(onB.id, { timeout_seconds: 0 });
  expect((await b!.client.vms.get(onB.id))!.power_state).toBe("stopped");
});

test("a host whose engine is killed is marked down, and migrations to it are refused", async () => {
  const vm = await createVm(a.client, "stay", templateId);
  await a.client.vms.start(vm.id);
  try {
    await b!.kill();
    b = null;
    const down = await waitFor("host b marked down", async () => {
      const h = await a.client.hosts.get("b");
      return h?.status === "down" ? h : null;
    });
    expect(down.down_reason).toMatch(/not answering|no heartbeat/);
    expect((await a.client.hosts.get("local"))!.status).toBe("up");
    const refused = await apiError(a.client.vms.migrate(vm.id, { host_id: "b" }));
    expect(refused).toMatchObject({ status: 409, field: "host_id" });
    expect(refused.message).toMatch(/host b is down/);
    expect((await a.client.vms.get(vm.id))!).toMatchObject({ host_id: "local", power_state: "running" });
    // Work for a VM that lives on host b is refused too, not queued for an agent that is gone.
    const onB = (await a.client.vms.list()).find((v) => v.host_id === "b")!;
    const jobsBefore = (await a.client.jobs.list()).length;
    const startRefused = await apiError(a.client.vms.start(onB.id));
    expect(startRefused).toMatchObject({ status: 409, field: "host_id" });
    expect(startRefused.message).toMatch(/host b is down .*cannot run a vm\.start job/);
    expect((await a.client.jobs.list()).length).toBe(jobsBefore);
  } finally {
    await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  }
});
