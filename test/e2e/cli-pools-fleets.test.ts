import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cliRunner } from "../support/cli";
import { makeDataImage } from "../support/clones";
import { spawnEngine, type EngineProcess } from "../support/engine-process";

// Many CLI processes in a row, each a Node start: slow on a loaded 2-core machine.
jest.setTimeout(180_000);

describe("the clonefleet CLI: pools, fleets and VMs", () => {
  let dir: string;
  let engine: EngineProcess;
  let stateDir: string;

  const runner = cliRunner(() => ({ endpoint: engine.url, stateDir }));
  const cli = (args: string[]) => runner.cli(["--state-dir", stateDir, ...args]);
  const json = runner.json;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-cli-fleet-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir);
  });
  afterAll(async () => {
    await engine.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("creates pools, applies a fleet that reports how each clone was provisioned, and manages VMs", async () => {
    const a = await json(["datastore", "add", "--name", "a", "--path", path.join(dir, "a")]);
    const b = await json(["datastore", "add", "--name", "b", "--path", path.join(dir, "b")]);
    const image = await makeDataImage(path.join(dir, "img.raw"), 16, 2);
    const tpl = await json(["template", "import", "--name", "tiny", "--datastore", a.id, "--source", image]);

    const pool = await json(["pool", "create", "--template", tpl.id, "--datastore", a.id, "--size", "2", "--wait"]);
    expect(pool).toMatchObject({ size: 2, ready: 2, state: "ready" });
    await json(["pool", "create", "--template", tpl.id, "--datastore", b.id, "--size", "1", "--wait"]);
    const pools = await json(["pool", "ls"]);
    expect(pools.map((p: { ready: number }) => p.ready).sort()).toEqual([1, 2]);
    const listed = await cli(["pool", "ls"]);
    expect(listed.stdout).toMatch(/READY\s+FILLING\s+STATE/);

    const applied = await json(["fleet", "apply", "--template", tpl.id, "--size", "5", "--datastores", `${a.id},${b.id}`, "--name-prefix", "cli"]);
    expect(applied.added).toHaveLength(5);
    expect(applied.added.filter((x: { provisioned_by: string }) => x.provisioned_by === "pool")).toHaveLength(3);
    expect(applied.added.filter((x: { provisioned_by: string }) => x.provisioned_by === "copy")).toHaveLength(2);
    const fleetId = applied.fleet.id;

    // Applying again with a smaller size finds the fleet by its prefix and removes the newest; the text names each clone's provisioning.
    const text = await cli(["fleet", "apply", "--template", tpl.id, "--size", "3", "--datastores", `${a.id},${b.id}`, "--name-prefix", "cli"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`fleet cli (${fleetId}): 3/3 members ready, ready`);
    expect(text.stdout).toMatch(/removed: cli-\d, cli-\d/);
    const grown = await cli(["fleet", "apply", "--template", tpl.id, "--size", "4", "--datastores", a.id, "--name-prefix", "cli"]);
    expect(grown.stdout).toMatch(/added 1 \((0|1) from pools, (0|1) copied\)/);
    expect(grown.stdout).toMatch(/cli-\d\s+vm-\w+\s+ds-\w+\s+(pool|copy)\s+/);

    expect((await json(["fleet", "ls"])).map((f: { id: string }) => f.id)).toEqual([fleetId]);
    const shown = await json(["fleet", "show", fleetId]);
    expect(shown).toMatchObject({ size: 4, members_ready: 4, state: "ready" });
    expect(await json(["vm", "ls", "--fleet", fleetId])).toHaveLength(4);

    const linked = await json(["vm", "create", "--name", "solo", "--template", tpl.id, "--clone-mode", "linked"]);
    expect(linked).toMatchObject({ name: "solo", provisioned_by: "linked", chain_depth: 2 });
    const vmText = await cli(["vm", "show", linked.id]);
    expect(vmText.stdout).toContain(tpl.disk_path);
    await json(["vm", "rm", linked.id]);

    const refused = await cli(["vm", "rm", shown.vms[0].id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("member of fleet");
    const bad = await cli(["--json", "fleet", "apply", "--template", tpl.id, "--size", "-1", "--datastores", a.id, "--name-prefix", "cli"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stderr).error).toMatchObject({ code: "CF_INVALID_FIELD", field: "size" });

    await json(["fleet", "rm", fleetId]);
    expect(await json(["vm", "ls"])).toEqual([]);
    for (const p of await json(["pool", "ls"])) await json(["pool", "rm", p.id]);
    expect(await json(["pool", "ls"])).toEqual([]);
  });
});
