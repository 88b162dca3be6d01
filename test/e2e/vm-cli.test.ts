import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cliRunner } from "../support/cli";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAllVms, vmFixture } from "../support/vms";

// Runs the built CLI (dist/). Real QEMU (TCG), 64 MiB firmware-only VMs.
jest.setTimeout(60_000);

describe("the clonefleet CLI: VM power and fork", () => {
  let dir: string;
  let engine: EngineProcess;
  let stateDir: string;
  const runner = cliRunner(() => ({ endpoint: engine.url, stateDir }));
  const cli = (args: string[]) => runner.cli(["--state-dir", stateDir, ...args]);
  const json = runner.json;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-cli-vm-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
  });
  afterAll(async () => {
    await engine.stop();
    await killAllVms(path.join(stateDir, "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("starts, forks, shows and stops VMs", async () => {
    const fx = await vmFixture(engine.client, dir);
    const vm = await json(["vm", "create", "--name", "cli-p", "--template", fx.templateId, "--clone-mode", "linked"]);
    const started = await json(["vm", "start", vm.id]);
    expect(started).toMatchObject({ power_state: "running", accel: "tcg" });
    const child = await json(["vm", "fork", vm.id, "--name", "cli-c"]);
    expect(child).toMatchObject({ power_state: "running", forked_from: vm.id, chain_depth: 2, layout: "copied-delta" });
    expect(child.parent_stun_ms).toEqual(expect.any(Number));
    const shown = await cli(["vm", "show", child.id]);
    expect(shown.stdout).toMatch(/forked from vm-/);
    expect(shown.stdout).toMatch(/running/);
    const ls = await cli(["vm", "ls"]);
    expect(ls.stdout).toMatch(/POWER\s+ACCEL/);
    const bad = await cli(["vm", "fork", vm.id, "--name", "cli-c"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/name/);
    for (const id of [vm.id, child.id]) expect(await json(["vm", "stop", id, "--timeout", "0"])).toMatchObject({ power_state: "stopped" });
  });
});
