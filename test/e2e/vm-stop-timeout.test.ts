/**
 * A VM's own stop timeout (`stop_timeout_seconds`): set and reset in place through the API and
 * the CLI without touching its QEMU, refused when out of range (nothing changed then), kept by
 * a fork's child, and used by a stop that names no timeout. Real QEMU (TCG), firmware-only VMs.
 */
import * as path from "node:path";
import { apiError } from "../support/api-error";
import { cliRunner } from "../support/cli";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, forkVm, killAllVms, vmFixture } from "../support/vms";

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
});

test("set, refuse and reset a VM's stop timeout; a running VM keeps its QEMU", async () => {
  const vm = await t.client.vms.start((await createVm(t.client, "slowstop", fx.templateId)).id);
  expect(vm.stop_timeout_seconds).toBeNull();

  for (const bad of [3601, -1, 1.5]) {
    const err = await apiError(t.client.vms.update(vm.id, { stop_timeout_seconds: bad }));
    expect(err).toMatchObject({ status: 400, field: "stop_timeout_seconds" });
  }
  expect((await t.client.vms.get(vm.id))!.stop_timeout_seconds).toBeNull();
  expect(await apiError(t.client.vms.update("vm-nope", { stop_timeout_seconds: 1 }))).toMatchObject({ status: 404 });

  const set = await t.client.vms.update(vm.id, { stop_timeout_seconds: 0 });
  expect(set).toMatchObject({ stop_timeout_seconds: 0, power_state: "running", pid: vm.pid });

  expect(await runner.json(["vm", "set", vm.id, "--stop-timeout", "default"])).toMatchObject({ stop_timeout_seconds: null });
  expect(await runner.json(["vm", "set", vm.id, "--stop-timeout", "1"])).toMatchObject({ stop_timeout_seconds: 1 });
  const refused = await runner.cli(["--state-dir", t.stateDir, "vm", "set", vm.id, "--stop-timeout", "soon"]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("--stop-timeout");
  expect((await t.client.vms.get(vm.id))!).toMatchObject({ stop_timeout_seconds: 1, pid: vm.pid });
});

test("a fork's child keeps its parent's stop timeout; stops without a timeout use the VM's own", async () => {
  const parent = (await t.client.vms.list()).find((v) => v.name === "slowstop")!;
  const child = await forkVm(t.client, parent.id, "slowstop-child");
  expect(child).toMatchObject({ stop_timeout_seconds: 1, power_state: "running" });
  for (const id of [child.id, parent.id]) {
    const stopped = await t.client.vms.stop(id);
    expect(stopped).toMatchObject({ power_state: "stopped", pid: null, crashed: false });
  }
});
