import { promises as fs } from "node:fs";
import * as path from "node:path";
import { startTestEngine, type TestEngine } from "../support/engine";
import { cliRunner } from "../support/cli";
import { createVm, killAllVms, vmFixture } from "../support/vms";
import { waitFor } from "../support/wait";

// The built CLI (dist/, as `npm test` builds it) against a real engine and a real QEMU (TCG).
jest.setTimeout(120_000);

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };
const runner = cliRunner(() => ({ endpoint: t.engine.url, stateDir: t.stateDir }));

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "tcg" } });
  fx = await vmFixture(t.client, t.dir);
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
  await fs.rm(t.engine.runner.settings.parentTmpfsDir!, { recursive: true, force: true });
});

test("parent create|ls|show|rm [--wait] and vm instant-clone, as text and --json", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "cli-src", fx.templateId)).id);
  const made = (await runner.json(["parent", "create", "--from", vm.id, "--name", "cli-parent", "--ram-location", "datastore"])) as { id: string; ram_location: string; source_vm_id: string };
  expect(made).toMatchObject({ ram_location: "datastore", source_vm_id: vm.id });
  expect(((await runner.json(["parent", "ls"])) as { id: string }[]).map((p) => p.id)).toEqual([made.id]);
  const shown = await runner.cli(["--state-dir", t.stateDir, "parent", "show", made.id]);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toContain("device state");

  // Pre-started children: set in place, shown, refused when bad.
  const set = await runner.cli(["--state-dir", t.stateDir, "parent", "set", made.id, "--warm", "1"]);
  expect(set.code).toBe(0);
  expect(set.stdout).toContain("1 children kept pre-started per host");
  await waitFor("one pre-started child", async () => (await t.client.parents.get(made.id))!.warm_ready === 1, 60_000);
  expect((await runner.cli(["--state-dir", t.stateDir, "parent", "show", made.id])).stdout).toContain("pre-started  1 of 1 ready on this host");
  const badWarm = await runner.cli(["--state-dir", t.stateDir, "parent", "set", made.id, "--warm", "99"]);
  expect(badWarm.code).not.toBe(0);
  expect(badWarm.stderr).toContain("warm_count");
  const notInt = await runner.cli(["--state-dir", t.stateDir, "parent", "set", made.id, "--warm", "many"]);
  expect(notInt.code).not.toBe(0);
  expect(notInt.stderr).toContain("--warm: expected an integer");
  expect((await t.client.parents.get(made.id))!.warm_count).toBe(1);

  const text = await runner.cli(["--state-dir", t.stateDir, "vm", "instant-clone", made.id, "--count", "2", "--name-prefix", "cli-kid"]);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(/2 instant clone\(s\) of parent-\S+ running after/);
  expect(text.stdout).toContain("cli-kid-1");
  expect(text.stdout).toContain("cli-kid-2");
  const kids = (await t.client.vms.list()).filter((v) => v.instant_clone_of === made.id);
  expect(kids.map((k) => k.name).sort()).toEqual(["cli-kid-1", "cli-kid-2"]);

  const bad = await runner.cli(["--state-dir", t.stateDir, "vm", "instant-clone", made.id, "--count", "0", "--name-prefix", "x"]);
  expect(bad.code).not.toBe(0);
  expect(bad.stderr).toContain("count");

  const refused = await runner.cli(["--state-dir", t.stateDir, "parent", "rm", made.id]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("cli-kid-1");
  expect(await t.client.parents.get(made.id)).not.toBeNull();

  const waiting = runner.cli(["--state-dir", t.stateDir, "parent", "rm", made.id, "--wait"]);
  await new Promise((r) => setTimeout(r, 1000));
  for (const k of kids) await t.client.vms.delete(k.id);
  const waited = await waiting;
  expect(waited.code).toBe(0);
  // Its pre-started child went with it.
  await waitFor("no pre-started child left", async () => {
    for (const d of await fs.readdir(path.join(t.stateDir, "vms"))) if (!(await t.client.vms.get(d))) return false;
    return true;
  }, 15_000);
  expect(await t.client.parents.get(made.id)).toBeNull();
  await t.client.vms.delete(vm.id);
});
