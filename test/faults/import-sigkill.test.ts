import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { readCatalog } from "../../engine/disk";
import { filesUnder } from "../support/files";
import { spawnEngine, type EngineProcess } from "../support/engine-process";

const run = promisify(execFile);


describe("SIGKILL in the middle of a template import", () => {
  let dir: string;
  let engine: EngineProcess | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-kill-"));
  });
  afterAll(async () => {
    await engine?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("leaves no partial file, and the job failed (never half-made) after restart", async () => {
    const stateDir = path.join(dir, "state");
    const dsPath = path.join(dir, "ds");
    const source = path.join(dir, "big.raw");
    await run("qemu-img", ["create", "-f", "raw", source, "64M"]);
    await run("qemu-io", ["-f", "raw", "-c", "write -P 0x33 0 48M", source]);

    // A bandwidth cap makes the copy take seconds, so the kill lands while it runs.
    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "8M"]);
    const ds = await engine.client.datastores.create({ name: "ds", path: dsPath });
    const job = await engine.client.templates.import({ name: "victim", datastore_id: ds.id, source_path: source });

    const tmp = path.join(dsPath, "clonefleet", "tmp");
    const deadline = Date.now() + 15_000;
    let partial: string[] = [];
    while (Date.now() < deadline) {
      partial = (await fs.readdir(tmp)).filter((f) => f.endsWith(".part"));
      const j = await engine.client.jobs.get(job.id);
      if (partial.length > 0 && j.state === "running") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(partial.length).toBe(1);
    await engine.kill();
    expect(await filesUnder(path.join(dsPath, "clonefleet", "tmp"))).not.toHaveLength(0);

    engine = await spawnEngine(stateDir);
    const after = await engine.client.jobs.get(job.id);
    expect(after.state).toBe("failed");
    expect(after.error?.code).toBe("CF_INTERRUPTED");
    expect(await engine.client.templates.list()).toEqual([]);
    const left = (await filesUnder(path.join(dsPath, "clonefleet"))).map((f) => path.relative(dsPath, f));
    expect(left).toEqual(["clonefleet/catalog.json"]);
    expect(await readCatalog(dsPath)).toEqual([]);

    // The name is free again: a new import succeeds and its disk is sound.
    const again = await engine.client.templates.import({ name: "victim", datastore_id: ds.id, source_path: source });
    const done = await engine.client.waitJob(again.id);
    const diskPath = (done.result as { disk_path: string }).disk_path;
    const { stdout } = await run("qemu-img", ["check", "--output=json", diskPath]);
    expect(JSON.parse(stdout)).toMatchObject({ "check-errors": 0 });
    const { stdout: cmp } = await run("qemu-img", ["compare", "-f", "raw", "-F", "qcow2", source, diskPath]);
    expect(cmp).toContain("identical");
  });
});
