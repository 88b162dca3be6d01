import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { cliRunner } from "../support/cli";
import { makeChain, sameContent } from "../support/chains";
import { spawnEngine, type EngineProcess } from "../support/engine-process";

describe("the replica and catalog CLI commands", () => {
  let dir: string;
  let engine: EngineProcess;
  let stateDir: string;

  const runner = cliRunner(() => ({ endpoint: engine.url, stateDir }));
  const cli = (args: string[]) => runner.cli(["--state-dir", stateDir, ...args]);
  const json = runner.json;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-repcli-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir);
  });
  afterAll(async () => {
    await engine.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("registers a chain, replicates it, lists, shows, rescans and removes", async () => {
    const src = await json(["datastore", "add", "--name", "src", "--path", path.join(dir, "src")]);
    const dst = await json(["datastore", "add", "--name", "dst", "--path", path.join(dir, "dst")]);
    const chain = await makeChain(path.join(src.path, "disks"));

    const reg = await json(["disk", "register", chain.top]);
    expect(reg.registered).toEqual([chain.top, chain.middle, chain.base]);

    const base = await json(["replica", "create", "--source", chain.base, "--target", dst.id]);
    expect(base).toMatchObject({ layers_copied: 1, state: "ready" });

    // Text output names what was copied and what was reused.
    const text = await cli(["replica", "create", "--source", chain.top, "--target", dst.id, "--verify"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/copied 2 layer\(s\)/);
    expect(text.stdout).toContain(`reused  [2] ${base.disk_path}`);
    expect(text.stdout).toContain("compares equal to the source");

    const list = await json(["replica", "ls", "--target", dst.id]);
    expect(list).toHaveLength(2);
    const top = list.find((r: { source_disk_path: string }) => r.source_disk_path === chain.top);
    expect(await sameContent(chain.top, top.disk_path)).toBe(true);
    const shown = await json(["replica", "show", top.id]);
    expect(shown).toMatchObject({ id: top.id, layers_copied: 2, layers_reused: 1, reused_layers: [{ path: base.disk_path }] });

    await fs.rm(top.chain[0].path);
    const repaired = await json(["replica", "repair", top.id]);
    expect(repaired.last_run.copied.map((c: { position: number }) => c.position)).toEqual([0]);

    const rescan = await json(["catalog", "rescan", dst.id]);
    expect(rescan.kept).toHaveLength(3);
    expect(rescan.dropped).toEqual([]);

    const refused = await cli(["--json", "replica", "rm", base.id]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stderr).error).toMatchObject({ code: "CF_CONFLICT", field: "id" });
    expect(await json(["replica", "rm", top.id])).toEqual({ removed: top.id });
    expect(await json(["replica", "rm", base.id])).toEqual({ removed: base.id });
    expect(await json(["replica", "ls"])).toEqual([]);

    const bad = await cli(["--json", "replica", "create", "--source", chain.top, "--target", src.id]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stderr).error).toMatchObject({ code: "CF_INVALID_FIELD", field: "target_datastore_id" });
  });
});
