/**
 * SIGKILL of the source engine while the target host starts the QEMU a live migration will
 * stream into (step `accepted`). Before the fix the target QEMU, its state folder and (for a
 * datastore move) its new disk outlived the rolled-back job. Two engine processes on one state
 * folder; host b parks after its QEMU started until the source's connection goes away.
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { probeVm } from "../../engine/hypervisor";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { filesUnder } from "../support/files";
import { createVm, killAllVms, vmFixture } from "../support/vms";
import { waitFor } from "../support/wait";

jest.setTimeout(180_000);

const HEARTBEAT = ["--heartbeat-interval-ms", "250"];

let dir: string;
let stateDir = "";
let a: EngineProcess | null = null;
let b: EngineProcess | null = null;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-migkill-"));
});

afterEach(async () => {
  await a?.stop();
  await b?.stop();
  a = b = null;
  await killAllVms(path.join(stateDir, "vms"));
  await killAllVms(path.join(stateDir, "hosts", "b", "vms"));
});

afterAll(() => fs.rm(dir, { recursive: true, force: true }));

test.each([
  ["without", false],
  ["with", true],
])("killed while the target QEMU starts (%s a datastore move): the job rolls back, no target QEMU, folder or disk stays", async (_label, move) => {
  const caseDir = path.join(dir, move ? "move" : "plain");
  await fs.mkdir(caseDir);
  stateDir = path.join(caseDir, "state");
  a = await spawnEngine(stateDir, HEARTBEAT);
  b = await spawnEngine(stateDir, [...HEARTBEAT, "--host-name", "b"], { CLONEFLEET_FAULT_INCOMING_HOLD: "after-start" });
  const { templateId } = await vmFixture(a.client, caseDir);
  const ds2Path = path.join(caseDir, "ds2");
  await fs.mkdir(ds2Path);
  const ds2 = move ? await a.client.datastores.create({ name: `ds2-${move}`, path: ds2Path }) : null;
  const vm = await a.client.vms.start((await createVm(a.client, `mk-${move}`, templateId)).id);
  const job = await a.client.vms.migrate(vm.id, { host_id: "b", ...(ds2 ? { target_datastore_id: ds2.id } : {}) });

  const targetDir = path.join(stateDir, "hosts", "b", "vms", vm.id);
  const targetPid = await waitFor("the target QEMU", async () => {
    const p = await probeVm(targetDir).catch(() => null);
    return p?.state === "running" ? p.pid : null;
  }, 30_000);
  await a.kill();
  a = await spawnEngine(stateDir, HEARTBEAT);

  const after = await a.client.jobs.get(job.id);
  expect([after.state, after.error?.code]).toEqual(["failed", "CF_INTERRUPTED"]);
  await waitFor("the target QEMU to end", async () => {
    try {
      process.kill(targetPid, 0);
      return false;
    } catch {
      return true;
    }
  }, 10_000);
  expect(await fs.readdir(targetDir).catch(() => null)).toBeNull();
  // Host b started its QEMU as a job; the source hanging up cancelled it.
  const incoming = (await a.client.jobs.list()).find((j) => j.kind === "migration.incoming");
  expect([incoming?.host_id, incoming?.state, incoming?.error?.code]).toEqual(["b", "cancelled", "CF_CANCELLED"]);
  const v = (await a.client.vms.get(vm.id))!;
  expect([v.host_id, v.power_state]).toEqual(["local", "running"]);
  expect((await probeVm(v.state_dir!)).state).toBe("running");
  if (move) expect(await filesUnder(path.join(ds2Path, "clonefleet", "vms"))).toEqual([]);

  await a.client.vms.delete(vm.id);
});
