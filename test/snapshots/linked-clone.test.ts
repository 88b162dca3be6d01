import * as path from "node:path";
import { startTestEngine, type TestEngine } from "../support/engine";
import { chainHas, createVm, forkVm, killAllVms, vmFixture } from "../support/vms";
import { cleanCheck, consolidate, guestWrite, run, snap, withQmp } from "./helpers";
import type { VmWire } from "../../engine/client";

// A linked clone's disk names its template's disk by a relative backing path, so QEMU calls its
// qcow2 node `json:{…}` rather than the file's path. Every live disk operation must still find
// the node (by name, through the block graph) and write plain paths into the headers it makes.
jest.setTimeout(240_000);

const SLOT = 64 * 1024;

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "auto" } });
  fx = await vmFixture(t.client, t.dir);
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
});

async function backingOf(file: string): Promise<string | undefined> {
  const { stdout } = await run("qemu-img", ["info", "-U", "--output=json", file]);
  return (JSON.parse(stdout) as { "backing-filename"?: string })["backing-filename"];
}

async function startLinked(name: string): Promise<VmWire> {
  const vm = await t.client.vms.start((await createVm(t.client, name, fx.templateId, "linked")).id);
  // The premise: the clone's header names its backing relatively, so QEMU's node has a json: filename.
  expect(path.isAbsolute((await backingOf(vm.disk_path!))!)).toBe(false);
  const nodes = await withQmp(vm.state_dir!, (q) => q.execute("query-named-block-nodes", { flat: true }));
  expect(nodes.some((n) => n.drv === "qcow2" && n.file.startsWith("json:"))).toBe(true);
  return vm;
}

test("a running linked clone: live snapshot, backup equal to the disk, live consolidation; headers carry plain paths", async () => {
  const vm = await startLinked("linked1");
  await guestWrite(vm.state_dir!, 0, 0x21);

  const s = await snap(t.client, vm.id, "s1");
  const after = (await t.client.vms.get(vm.id))!;
  expect(after.chain_depth).toBe(3);
  expect(await backingOf(after.disk_path!)).toBe(s.frozen_disk_path);
  await guestWrite(vm.state_dir!, SLOT, 0x22);

  const target = path.join(t.dir, "ds", "linked1-backup.qcow2");
  const job = await t.client.waitJob((await t.client.vms.backup(vm.id, { target_path: target })).id, { timeoutMs: 120_000 });
  expect(job.state).toBe("succeeded");
  expect(await backingOf(target)).toBeUndefined();
  expect(await chainHas(target, "0", 0x21)).toBe(true);
  expect(await chainHas(target, String(SLOT), 0x22)).toBe(true);

  const done = await consolidate(t.client, s.id);
  expect(done.state).toBe("succeeded");
  const final = (await t.client.vms.get(vm.id))!;
  expect(final.chain_depth).toBe(2);
  expect(final.power_state).toBe("running");
  expect(await cleanCheck(final.disk_path!)).toBe(true);
  // The guest still writes to, and reads through, the consolidated chain.
  await guestWrite(vm.state_dir!, 2 * SLOT, 0x23);
  await withQmp(vm.state_dir!, (q) => q.execute("stop"));
  expect(await chainHas(final.disk_path!, "0", 0x21)).toBe(true);
  expect(await chainHas(final.disk_path!, String(SLOT), 0x22)).toBe(true);
  expect(await chainHas(final.disk_path!, String(2 * SLOT), 0x23)).toBe(true);
  await withQmp(vm.state_dir!, (q) => q.execute("cont"));
});

test("a running linked clone forks: the child sees the parent's data and both chains check clean", async () => {
  const vm = await startLinked("linked2");
  await guestWrite(vm.state_dir!, 0, 0x31);
  const child = await forkVm(t.client, vm.id, "linked2-child");
  expect(child.power_state).toBe("running");
  const parent = (await t.client.vms.get(vm.id))!;
  await withQmp(child.state_dir!, (q) => q.execute("stop"));
  expect(await chainHas(child.disk_path!, "0", 0x31)).toBe(true);
  await withQmp(child.state_dir!, (q) => q.execute("cont"));
  for (const d of [parent.disk_path!, child.disk_path!]) expect(await cleanCheck(d)).toBe(true);
});
