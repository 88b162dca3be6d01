import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cliRunner } from "../support/cli";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAllVms, vmFixture } from "../support/vms";

// Runs the built CLI (dist/) as users type it: global options after the command, and `vm show`
// of forks. Real QEMU (TCG), 64 MiB firmware-only VMs.
jest.setTimeout(60_000);

describe("the clonefleet CLI: global options anywhere on the line, a fork's stun time", () => {
  let dir: string;
  let engine: EngineProcess;
  let stateDir: string;
  let fx: { datastoreId: string; templateId: string };
  const runner = cliRunner(() => ({ endpoint: engine.url, stateDir }));
  const cli = runner.cli;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-cli-habits-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    fx = await vmFixture(engine.client, dir);
  });
  afterAll(async () => {
    await engine.stop();
    await killAllVms(path.join(stateDir, "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("takes --json, --state-dir and --endpoint after the command as before it", async () => {
    const before = await cli(["--state-dir", stateDir, "--json", "template", "ls"]);
    const after = await cli(["template", "ls", "--json", "--state-dir", stateDir]);
    expect(after).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout));
    expect(JSON.parse(after.stdout).map((t: { id: string }) => t.id)).toEqual([fx.templateId]);

    // The endpoint after the command wins over the environment's (which points nowhere here).
    const dead = { CLONEFLEET_ENDPOINT: "http://127.0.0.1:9" };
    const ls = await cli(["vm", "ls", "--endpoint", engine.url, "--state-dir", stateDir, "--json"], dead);
    expect(ls).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(ls.stdout)).toEqual([]);
    // Before the command, as it always worked.
    expect((await cli(["--endpoint", engine.url, "--state-dir", stateDir, "vm", "ls", "--json"], dead)).code).toBe(0);

    // An error of a command given --json after it comes as JSON too.
    const missing = await cli(["vm", "show", "vm-0000000000000000", "--state-dir", stateDir, "--json"]);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toEqual({ error: { code: "CF_ERROR", message: "vm vm-0000000000000000 not found" } });
    // An option the command does not know is still refused, naming it.
    const unknown = await cli(["vm", "ls", "--jsn", "--state-dir", stateDir]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--jsn'/);
  });

  it("vm show of a fork prints its parent's stun time; a fork of a stopped VM says it had none", async () => {
    const json = runner.json;
    const vm = await json(["vm", "create", "--name", "habit-p", "--template", fx.templateId, "--clone-mode", "linked"]);
    await json(["vm", "start", vm.id]);
    const child = await json(["vm", "fork", vm.id, "--name", "habit-c"]);
    expect(child.parent_stun_ms).toEqual(expect.any(Number));
    const shown = await cli(["vm", "show", child.id, "--state-dir", stateDir]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`forked from ${vm.id} \\(parent stunned \\d+(\\.\\d+)? ms\\)`));
    expect(JSON.parse((await cli(["vm", "show", child.id, "--json", "--state-dir", stateDir])).stdout).stun_ms).toEqual(expect.any(Number));
    for (const id of [vm.id, child.id]) await json(["vm", "stop", id, "--timeout", "0"]);

    const cold = await json(["vm", "fork", vm.id, "--name", "habit-cold"]);
    const coldShown = await cli(["vm", "show", cold.id, "--state-dir", stateDir]);
    expect(coldShown.stdout).toMatch(new RegExp(`forked from ${vm.id} \\(the parent was stopped: disks only, no stun\\)`));
  });
});
