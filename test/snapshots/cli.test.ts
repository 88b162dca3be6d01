import { promises as fs } from "node:fs";
import * as path from "node:path";
import { startTestEngine, type TestEngine } from "../support/engine";
import { cliRunner } from "../support/cli";
import { createVm, killAllVms, vmFixture } from "../support/vms";

// The built CLI (dist/, as `npm test` builds it) against a real engine and a real QEMU.
jest.setTimeout(120_000);

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };
const runner = cliRunner(() => ({ endpoint: t.engine.url, stateDir: t.stateDir }));

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "auto" } });
  fx = await vmFixture(t.client, t.dir);
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
});

test("snapshot create|ls|show|rm and backup --to, as text and --json", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "clisnap", fx.templateId)).id);
  const made = (await runner.json(["snapshot", "create", vm.id, "--name", "s1"])) as { id: string; frozen_disk_path: string };
  expect(made.frozen_disk_path).toBe(vm.disk_path);
  const listed = (await runner.json(["snapshot", "ls", vm.id])) as { id: string }[];
  expect(listed.map((s) => s.id)).toEqual([made.id]);
  const text = await runner.cli(["--state-dir", t.stateDir, "snapshot", "ls", vm.id]);
  expect(text.stdout).toContain("s1");
  const shown = await runner.cli(["--state-dir", t.stateDir, "snapshot", "show", made.id]);
  expect(shown.stdout).toContain(vm.disk_path);
  const rm = await runner.cli(["--state-dir", t.stateDir, "snapshot", "rm", made.id]);
  expect(rm.code).toBe(0);
  expect(rm.stdout).toContain("live-active-commit");
  expect((await t.client.snapshots.list(vm.id)).length).toBe(0);

  const target = path.join(t.dir, "ds", "cli-backup.qcow2");
  const backup = (await runner.json(["backup", vm.id, "--to", target])) as { target_path: string; consolidation: { guest_paused: boolean } };
  expect(backup.target_path).toBe(target);
  expect((await fs.stat(target)).size).toBeGreaterThan(0);
  const again = await runner.cli(["--state-dir", t.stateDir, "--json", "backup", vm.id, "--to", target]);
  expect(again.code).toBe(1);
  expect(JSON.parse(again.stderr).error.field).toBe("target_path");
});
