import * as path from "node:path";
import { startTestEngine, type TestEngine } from "../support/engine";
import { chainHas, createVm, killAllVms, vmFixture } from "../support/vms";
import { jobEnded } from "../support/wait";
import { cleanCheck, guestFill, run } from "./helpers";
import type { VmWire } from "../../engine/client";

// A fork asked for while a backup of the same VM copies must not pull the chain from under the
// backup: the backup ends with its file and without its snapshot, the fork after it.
jest.setTimeout(240_000);

let t: TestEngine;
let templateId: string;

beforeAll(async () => {
  // A slow copy (8 MiB/s) leaves time for the fork to arrive mid-backup.
  t = await startTestEngine({ engine: { accel: "auto", copyRateLimitBytesPerSec: 8 * 1024 * 1024 } });
  const fx = await vmFixture(t.client, t.dir);
  const img = path.join(t.dir, "big.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "128M"]);
  const job = await t.client.templates.import({ name: "big", datastore_id: fx.datastoreId, source_path: img, memory_mb: 64, vcpus: 1 });
  templateId = ((await t.client.waitJob(job.id)).result as { id: string }).id;
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
});

test("a fork during a backup waits for it: the backup keeps its file and leaves no snapshot, the fork succeeds", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "br1", templateId)).id);
  await guestFill(vm.state_dir!, 0, "48M", 0x5a);
  const target = path.join(t.dir, "ds", "br1-backup.qcow2");
  const backup = await t.client.vms.backup(vm.id, { target_path: target });
  // Wait until the copy runs (the snapshot is taken), then fork.
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
    const j = await t.client.jobs.get(backup.id);
    if (j.state !== "queued" && (j.progress?.message ?? "").startsWith("copying")) break;
  }
  const fork = await t.client.vms.fork(vm.id, { name: "br1-child" });
  const [b, f] = await Promise.all([jobEnded(t.client, backup, 120_000), jobEnded(t.client, fork, 120_000)]);
  expect({ state: b.state, error: b.error ?? null }).toEqual({ state: "succeeded", error: null });
  expect(f.state).toBe("succeeded");
  expect(await t.client.snapshots.list(vm.id)).toEqual([]);
  expect(await cleanCheck(target)).toBe(true);
  expect(await chainHas(target, "0", 0x5a)).toBe(true);
  const child = f.result as VmWire;
  expect(child.power_state).toBe("running");
});
