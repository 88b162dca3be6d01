/**
 * SIGKILL of the *target* engine during a live migration's steps on the target host (the
 * `migration.incoming`, `migration.activate` and `migration.abort` jobs). Two engine processes
 * on one state folder: host local (source) and host b (target). After b restarts, the VM is
 * recorded on one host whose QEMU runs it, with its RAM and disk as they were, and no QEMU or
 * folder of the migration stays on the other.
 */
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { probeVm } from "../../engine/hypervisor";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { heldJob } from "../support/fault-hold";
import { filesUnder } from "../support/files";
import { chainHas, createVm, killAllVms, qmpOnce, vmFixture, writeInVm } from "../support/vms";
import { jobEnded, waitFor } from "../support/wait";

jest.setTimeout(240_000);

const HEARTBEAT = ["--heartbeat-interval-ms", "250"];
const HOLD = "CLONEFLEET_FAULT_INCOMING_HOLD";

let dir: string;
let stateDir = "";
let a: EngineProcess | null = null;
let b: EngineProcess | null = null;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-migtkill-"));
});

afterEach(async () => {
  await a?.stop();
  await b?.stop();
  a = b = null;
  await killAllVms(path.join(stateDir, "vms"));
  await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
});

afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
};

/** Flushes the running VM's disk (HMP qemu-io on its disk node), so its file can be read from outside. */
async function flushVmDisk(stateDir: string): Promise<void> {
  const blocks = await qmpOnce<{ qdev?: string; inserted?: { "node-name": string } }[]>(stateDir, "query-block");
  const node = blocks.find((x) => (x.qdev ?? "").includes("disk0-dev"))?.inserted?.["node-name"];
  await qmpOnce<string>(stateDir, "human-monitor-command", { "command-line": `qemu-io ${node} "flush"` });
}

test.each([
  { label: "incoming", step: "after-start", kind: "migration.incoming", move: false },
  { label: "incoming", step: "after-start", kind: "migration.incoming", move: true },
  { label: "activate", step: "activate:after-resume", kind: "migration.activate", move: false },
])(
  "target killed during $label (datastore move: $move): after its restart the VM is recorded on one host whose QEMU runs it with its data, and nothing of the migration stays on the other",
  async ({ label, step, kind, move }) => {
    const caseDir = path.join(dir, `${label}-${move ? "move" : "plain"}`);
    await fs.mkdir(caseDir);
    stateDir = path.join(caseDir, "state");
    const bArgs = [...HEARTBEAT, "--host-name", "b"];
    a = await spawnEngine(stateDir, HEARTBEAT);
    b = await spawnEngine(stateDir, bArgs, { [HOLD]: step });
    const { templateId } = await vmFixture(a.client, caseDir);
    const ds2Path = path.join(caseDir, "ds2");
    await fs.mkdir(ds2Path);
    const ds2 = move ? await a.client.datastores.create({ name: `ds2-${label}`, path: ds2Path }) : null;
    const vm = await a.client.vms.start((await createVm(a.client, `tk-${label}-${move}`, templateId)).id);
    const sourceDir = vm.state_dir!;
    const sourcePid = vm.pid!;
    // Data the guest must keep: a disk pattern written through its QEMU, and a RAM marker.
    await writeInVm(sourceDir, "1M", 0x5a);
    await flushVmDisk(sourceDir);
    const marker = randomBytes(64 * 1024);
    const ram = await fs.open(path.join(sourceDir, "ram"), "r+");
    await ram.write(marker, 0, marker.length, 40 * 1024 * 1024);
    await ram.close();

    const job = await a.client.vms.migrate(vm.id, { host_id: "b", ...(ds2 ? { target_datastore_id: ds2.id } : {}) });
    const held = await heldJob(b.client, kind, step);
    expect(held.host_id).toBe("b");
    const targetDir = path.join(stateDir, "hosts", "b", "vms", vm.id);
    const probe = await probeVm(targetDir);
    if (probe.state !== "running") throw new Error(`no target QEMU runs in ${targetDir}`);
    const targetPid = probe.pid;
    await b.kill();

    // The source's request died with host b: its migration fails and the guest stays with it.
    const ended = await jobEnded(a.client, job, 60_000);
    expect([ended.state, ended.error?.code]).toEqual(["failed", "CF_MIGRATION_FAILED"]);

    b = await spawnEngine(stateDir, bArgs);
    const recovered = await b.client.jobs.get(held.id);
    if (kind === "migration.incoming") expect([recovered.state, recovered.error?.code]).toEqual(["failed", "CF_INTERRUPTED"]);
    else expect(["succeeded", "failed"]).toContain(recovered.state);
    if (kind === "migration.incoming") expect(recovered.error?.message).toMatch(/target QEMU .* stopped and its folder removed/);
    // Recorded on exactly one host, whose QEMU runs the guest with its data; nothing of the
    // migration stays on the other. A killed incoming step leaves the guest at its source. A
    // killed activation after the target QEMU ran the guest leaves it on b: the source gave the
    // guest up and cannot resume while that QEMU holds the disk.
    const v = (await a.client.vms.get(vm.id))!;
    if (kind === "migration.incoming") expect([v.host_id, v.state_dir, v.pid]).toEqual(["local", sourceDir, sourcePid]);
    else expect([v.host_id, v.state_dir, v.pid, recovered.state]).toEqual(["b", targetDir, targetPid, "succeeded"]);
    const [leftDir, leftPid] = v.host_id === "local" ? [targetDir, targetPid] : [sourceDir, sourcePid];
    await waitFor("the other QEMU to end", async () => gone(leftPid), 10_000);
    expect(await fs.readdir(leftDir).catch(() => null)).toBeNull();
    expect(v.power_state).toBe("running");
    expect(await qmpOnce<{ status: string }>(v.state_dir!, "query-status")).toMatchObject({ status: "running" });
    if (v.host_id === "local") {
      expect(await fs.readdir(path.join(stateDir, "hosts", "b", "vms")).catch(() => [])).toEqual([]);
      if (move) expect(await filesUnder(path.join(ds2Path, "clonefleet", "vms"))).toEqual([]);
    }
    expect((await b.client.hosts.get("b"))!.vm_count).toBe(v.host_id === "b" ? 1 : 0);
    await flushVmDisk(v.state_dir!);
    expect(await chainHas(v.disk_path, "1M", 0x5a)).toBe(true);
    const back = Buffer.alloc(marker.length);
    const ramBack = await fs.open(path.join(v.state_dir!, "ram"), "r");
    await ramBack.read(back, 0, back.length, 40 * 1024 * 1024);
    await ramBack.close();
    expect(back.equals(marker)).toBe(true);

    await a.client.vms.delete(vm.id);
  },
);

test("target killed during abort (the guest did not acknowledge, policy abort): after its restart the removal is finished and the VM runs on at its source", async () => {
  const caseDir = path.join(dir, "abort");
  await fs.mkdir(caseDir);
  stateDir = path.join(caseDir, "state");
  const bArgs = [...HEARTBEAT, "--host-name", "b"];
  a = await spawnEngine(stateDir, HEARTBEAT);
  b = await spawnEngine(stateDir, bArgs, { [HOLD]: "abort:after-intent" });
  const { templateId } = await vmFixture(a.client, caseDir);
  const vm = await a.client.vms.start((await createVm(a.client, "tk-abort", templateId)).id);
  // A firmware-only guest never acknowledges the notice: the policy aborts and the source asks b to remove its QEMU.
  const job = await a.client.vms.migrate(vm.id, { host_id: "b", notify_timeout_seconds: 1, on_missing_ack: "abort" });
  const held = await heldJob(b.client, "migration.abort", "abort:after-intent");
  const targetDir = path.join(stateDir, "hosts", "b", "vms", vm.id);
  const probe = await probeVm(targetDir);
  if (probe.state !== "running") throw new Error(`no target QEMU runs in ${targetDir}`);
  await b.kill();

  const ended = await jobEnded(a.client, job, 60_000);
  expect([ended.state, ended.error?.code]).toEqual(["failed", "CF_MIGRATION_ABORTED"]);
  b = await spawnEngine(stateDir, bArgs);
  const recovered = await b.client.jobs.get(held.id);
  expect([recovered.state, recovered.result]).toEqual(["succeeded", { ok: true }]);
  await waitFor("the target QEMU to end", async () => gone(probe.pid), 10_000);
  expect(await fs.readdir(targetDir).catch(() => null)).toBeNull();
  const v = (await a.client.vms.get(vm.id))!;
  expect([v.host_id, v.power_state, v.state_dir, v.pid]).toEqual(["local", "running", vm.state_dir, vm.pid]);
  expect(await qmpOnce<{ status: string }>(v.state_dir!, "query-status")).toMatchObject({ status: "running" });

  await a.client.vms.delete(vm.id);
});
