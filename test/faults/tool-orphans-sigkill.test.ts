import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { filesUnder } from "../support/files";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { parentOf, TOOL_PARENT_ENV } from "../../engine/disk/orphan-tools";

const run = promisify(execFile);

/**
 * The `qemu-img convert` processes an engine with pid `enginePid` started, by their environment
 * (not its short `qemu-img info` probes, which may end before the kill on a loaded machine).
 */
async function toolsOf(enginePid: number): Promise<number[]> {
  const found: number[] = [];
  for (const d of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const env = await fs.readFile(`/proc/${d}/environ`, "utf8").catch(() => "");
    const comm = await fs.readFile(`/proc/${d}/comm`, "utf8").catch(() => "");
    const args = await fs.readFile(`/proc/${d}/cmdline`, "utf8").catch(() => "");
    if (comm.trim() === "qemu-img" && args.split("\0").includes("convert") && env.split("\0").includes(`${TOOL_PARENT_ENV}=${enginePid}`)) found.push(Number(d));
  }
  return found;
}

async function alive(pid: number): Promise<boolean> {
  const status = await fs.readFile(`/proc/${pid}/status`, "utf8").catch(() => null);
  return status !== null && !/^State:\s*Z/m.test(status);
}

test("parentOf reads the parent pid of a /proc status text", () => {
  expect(parentOf("Name:\tqemu-img\nState:\tS (sleeping)\nPPid:\t4242\n")).toBe(4242);
  expect(parentOf("Name:\tx\n")).toBeNull();
});

describe("a qemu-img the killed engine left running", () => {
  let dir: string;
  let engine: EngineProcess | null = null;
  const leftover: number[] = [];
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-tools-"));
  });
  afterAll(async () => {
    await engine?.stop();
    for (const pid of leftover) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone, as it should be
      }
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("is killed at the next start, before recovery removes the file it was writing", async () => {
    const stateDir = path.join(dir, "state");
    const dsPath = path.join(dir, "ds");
    const source = path.join(dir, "big.raw");
    await run("qemu-img", ["create", "-f", "raw", source, "64M"]);
    await run("qemu-io", ["-f", "raw", "-c", "write -P 0x44 0 48M", source]);

    // A bandwidth cap makes the convert take seconds, so the kill lands while it runs.
    engine = await spawnEngine(stateDir, ["--copy-rate-limit", "4M"]);
    const enginePid = engine.child.pid!;
    const ds = await engine.client.datastores.create({ name: "ds", path: dsPath });
    await engine.client.templates.import({ name: "victim", datastore_id: ds.id, source_path: source });
    let tools: number[] = [];
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && tools.length === 0; ) {
      tools = (await toolsOf(enginePid)).filter((pid) => pid !== enginePid);
      if (tools.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(tools.length).toBeGreaterThan(0);
    leftover.push(...tools);
    await engine.kill();
    // Killing the engine alone does not stop its qemu-img: it goes on writing the part file.
    await new Promise((r) => setTimeout(r, 200));
    const running: number[] = [];
    for (const pid of tools) if (await alive(pid)) running.push(pid);
    expect(running.length).toBeGreaterThan(0);

    engine = await spawnEngine(stateDir);
    for (const pid of running) expect(await alive(pid)).toBe(false);
    // (Any engine starting on this machine reaps a dead engine's qemu-img, so which one reported it is not asserted.)
    const info = (await engine.client.engine()) as { last_recovery: { rolledBackJobs: string[] } };
    expect(info.last_recovery.rolledBackJobs).toHaveLength(1);
    // Nothing writes into the datastore any more: the part file is gone and stays gone.
    await new Promise((r) => setTimeout(r, 500));
    expect((await filesUnder(path.join(dsPath, "clonefleet"))).map((f) => path.relative(dsPath, f))).toEqual(["clonefleet/catalog.json"]);
  });
});
