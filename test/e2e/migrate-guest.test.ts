/**
 * Application-assisted live migration (S6) of the real Linux test guest under TCG between two
 * engine processes (hosts `local` and `b`) on one state folder: the guest keeps running with
 * its RAM and disk, hears of the migration before the switch-over and of its end after, and
 * a silent guest gets the policy (abort or proceed) applied after its deadline.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { AGENT_PORT_NAME, GuestAgentClient, portSocketPath } from "../../engine/hypervisor";
import type { JobWire, MigrateResultWire, VmWire } from "../../engine/client";
import { ensureTestGuest, type TestGuest } from "../support/guest-image";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAllVms } from "../support/vms";
import { jobEnded, waitFor } from "../support/wait";

const built = ensureTestGuest();
if (!built.ok) console.warn(`guest migration tests skipped (the guest is not built): ${built.reason}`);
const describeGuest = built.ok ? describe : describe.skip;

jest.setTimeout(300_000);

const BOOT_TIMEOUT_MS = 90_000;

const read = (file: string) => fs.readFile(file, "utf8").catch(() => "");

describeGuest("live migration of the Linux test guest between two hosts", () => {
  const guest = (built as { ok: true; guest: TestGuest }).guest;
  let dir: string;
  let stateDir: string;
  let a: EngineProcess;
  const ended = (job: JobWire) => jobEnded(a.client, job, 120_000);
  let b: EngineProcess;
  let ackTemplate: string;
  let silentTemplate: string;

  async function template(name: string, extra: string): Promise<string> {
    const ds = (await a.client.datastores.list())[0];
    const job = await a.client.templates.import({
      name,
      datastore_id: ds.id,
      source_path: guest.rootDisk,
      memory_mb: 256,
      vcpus: 1,
      kernel: guest.kernel,
      initrd: guest.initrd,
      cmdline: `${guest.cmdline} ${extra}`,
    });
    return ((await a.client.waitJob(job.id)).result as { id: string }).id;
  }

  /** Creates and boots a guest VM with a migration policy; resolves once it printed its ready line. */
  async function bootGuest(name: string, templateId: string, timeoutSeconds: number, onMissingAck: "abort" | "proceed"): Promise<VmWire> {
    const job = await a.client.vms.create({ name, template_id: templateId, clone_mode: "full", migration_notify_timeout_seconds: timeoutSeconds, migration_on_missing_ack: onMissingAck });
    const vm = (await a.client.waitJob(job.id)).result as VmWire;
    expect(vm).toMatchObject({ migration_notify_timeout_seconds: timeoutSeconds, migration_on_missing_ack: onMissingAck, host_id: "local" });
    const running = await a.client.vms.start(vm.id, { accel: "tcg" });
    await waitFor(`${name}'s ready line`, async () => (await read(path.join(running.state_dir!, "serial.log"))).includes(guest.readyLine), BOOT_TIMEOUT_MS);
    return running;
  }

  async function agent(vm: VmWire): Promise<GuestAgentClient> {
    return GuestAgentClient.connect(portSocketPath(vm.state_dir!, { name: AGENT_PORT_NAME }), { timeoutMs: 10_000 });
  }

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-migg-"));
    stateDir = path.join(dir, "state");
    a = await spawnEngine(stateDir, ["--heartbeat-interval-ms", "500"]);
    b = await spawnEngine(stateDir, ["--heartbeat-interval-ms", "500", "--host-name", "b"]);
    await fs.mkdir(path.join(dir, "ds"));
    await a.client.datastores.create({ name: "ds", path: path.join(dir, "ds") });
    ackTemplate = await template("acking", "cf.notify_work_ms=300");
    silentTemplate = await template("silent", "cf.notify_silent=1");
  });

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await killAllVms(path.join(stateDir, "vms"));
    await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  test("an acknowledging guest hears of the migration before the switch-over and of its end after; it runs on with its RAM and disk", async () => {
    const vm = await bootGuest("acker", ackTemplate, 30, "abort");
    const before = await agent(vm);
    await before.request("set-ram-marker", "ram-7f3a");
    await before.request("write-marker", "disk-9c1e");
    const uptimeBefore = Number(await before.request("uptime"));
    await before.close();

    const job = await a.client.vms.migrate(vm.id, { host_id: "b" });
    const done = await a.client.waitJob(job.id, { timeoutMs: 180_000 });
    const r = done.result as MigrateResultWire;
    expect(r.notice).toMatchObject({ outcome: "acked", policy: "abort", deadline_ms: 30_000 });
    // The guest simulates 300 ms of work before it acknowledges, and the engine waited for it.
    expect(r.notice!.waited_ms).toBeGreaterThanOrEqual(300);
    expect(r.notice!.lead_ms!).toBeGreaterThanOrEqual(300);
    expect(typeof r.downtime_ms).toBe("number");

    // The job's record: notice, ack, then the stream, then the completion.
    const steps = r.steps.map((s) => s.step);
    const at = (step: string) => Date.parse(r.steps.find((s) => s.step === step)!.at);
    expect(steps).toEqual(["accepted", "target_ready", "notice_sent", "ack_received", "migration_started", "migration_completed", "target_running", "record_moved", "source_stopped", "completion_sent"]);
    expect(at("notice_sent")).toBeLessThanOrEqual(at("ack_received"));
    expect(at("ack_received")).toBeLessThanOrEqual(at("migration_started"));
    expect(at("migration_completed")).toBeLessThanOrEqual(at("completion_sent"));
    expect((await a.client.jobs.get(job.id)).steps!.map((s) => s.step)).toEqual(steps);

    // The guest's own console: the notice and its ack on the source, the completion on the target.
    const noticeId = r.notice!.id;
    const moved = (await a.client.vms.get(vm.id))!;
    expect(moved).toMatchObject({ host_id: "b", power_state: "running" });
    const earlier = await read(r.steps.find((s) => s.step === "source_stopped")!.detail!.earlier_serial_log as string);
    const noticeAt = earlier.indexOf(`CF-NOTIFY notice id=${noticeId} kind=migration phase=prepare`);
    const ackAt = earlier.indexOf(`CF-NOTIFY ack id=${noticeId}`);
    expect(noticeAt).toBeGreaterThanOrEqual(0);
    expect(ackAt).toBeGreaterThan(noticeAt);
    expect(earlier).not.toMatch(/phase=complete/);
    const later = await waitFor("the completion on the target's console", async () => {
      const text = await read(path.join(moved.state_dir!, "serial.log"));
      return text.includes(`ref=${noticeId} outcome=succeeded`) ? text : null;
    }, 30_000);
    // It kept running: no second boot on the target.
    expect(later).not.toContain(guest.readyLine);

    const after = await agent(moved);
    try {
      expect(await after.request("read-ram-marker")).toBe("ram-7f3a");
      expect(await after.request("read-marker")).toBe("disk-9c1e");
      expect(Number(await after.request("uptime"))).toBeGreaterThan(uptimeBefore);
    } finally {
      await after.close();
    }
    await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  });

  test("a silent guest: after the deadline the abort policy keeps it on its host, and proceed migrates it anyway", async () => {
    const vm = await bootGuest("mute", silentTemplate, 2, "abort");
    const job = await a.client.vms.migrate(vm.id, { host_id: "b" });
    const failed = await ended(job);
    expect(failed.state).toBe("failed");
    expect(failed.error).toMatchObject({ code: "CF_MIGRATION_ABORTED", field: "id" });
    expect(failed.error!.message).toMatch(/did not acknowledge within 2 s and the policy is abort/);
    expect(failed.steps!.map((s) => s.step)).toEqual(["accepted", "target_ready", "notice_sent", "ack_missing", "completion_sent", "target_removed"]);
    const missing = failed.steps!.find((s) => s.step === "ack_missing")!;
    expect(Date.parse(missing.at) - Date.parse(failed.steps!.find((s) => s.step === "notice_sent")!.at)).toBeGreaterThanOrEqual(1900);
    const stayed = (await a.client.vms.get(vm.id))!;
    expect(stayed).toMatchObject({ host_id: "local", power_state: "running", pid: vm.pid, state_dir: vm.state_dir });
    await waitFor("the abort on the guest's console", async () => {
      const text = await read(path.join(vm.state_dir!, "serial.log"));
      return /CF-NOTIFY silent id=\S+/.test(text) && /outcome=aborted/.test(text);
    }, 30_000);

    // The same silent guest with proceed (given for this migration): it moves after the deadline.
    const job2 = await a.client.vms.migrate(vm.id, { host_id: "b", notify_timeout_seconds: 1, on_missing_ack: "proceed" });
    const done = await a.client.waitJob(job2.id, { timeoutMs: 180_000 });
    const r = done.result as MigrateResultWire;
    expect(r.notice).toMatchObject({ outcome: "timeout", policy: "proceed", deadline_ms: 1000 });
    const steps = r.steps.map((s) => s.step);
    expect(steps.indexOf("ack_missing")).toBeLessThan(steps.indexOf("migration_started"));
    expect(steps).toContain("record_moved");
    expect((await a.client.vms.get(vm.id))!).toMatchObject({ host_id: "b", power_state: "running" });
    // The VM keeps its own policy; the override was for one migration.
    expect((await a.client.vms.get(vm.id))!).toMatchObject({ migration_notify_timeout_seconds: 2, migration_on_missing_ack: "abort" });
    await a.client.vms.stop(vm.id, { timeout_seconds: 0 });
  });
});
