import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ClonefleetClient, JobWire } from "../../engine/client";
import { livePid } from "../../engine/ops";
import { filesUnder } from "../support/files";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAtHold } from "../support/fault-hold";
import { createVm, killAllVms, qmpOnce, vmFixture } from "../support/vms";

// Runs the built CLI (dist/): `npx tsc -p tsconfig.json` first. Real QEMU, TCG, 64 MiB VMs.
jest.setTimeout(120_000);

describe("engine SIGKILL during a VM's start, stop or delete job", () => {
  let dir: string;
  let stateDir: string;
  let engine: EngineProcess | null = null;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-vl-"));
    stateDir = path.join(dir, "state");
  });
  afterEach(async () => {
    await engine?.kill();
    engine = null;
    await killAllVms(path.join(stateDir, "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function killAt(step: string, kind: string, call: (c: ClonefleetClient) => Promise<unknown>): Promise<JobWire> {
    const r = await killAtHold(engine!, stateDir, ["--accel", "tcg"], { variable: "CLONEFLEET_FAULT_VM_HOLD", step, kind }, call);
    engine = r.engine;
    return r.job;
  }

  it("start killed after QEMU was spawned, before it was recorded: the QEMU is stopped, the VM stays stopped and starts again", async () => {
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const vm = await createVm(engine.client, "s", fx.templateId);
    const vmStateDir = path.join(stateDir, "vms", vm.id);

    const job = await killAt("start:after-spawn", "vm.start", (c) => c.vms.start(vm.id));
    expect(job.state).toBe("failed");
    expect(job.error?.code).toBe("CF_INTERRUPTED");
    const after = (await engine.client.vms.get(vm.id))!;
    expect(after.power_state).toBe("stopped");
    expect(livePid(vmStateDir)).toBeNull();

    const started = await engine.client.vms.start(vm.id);
    expect(started.power_state).toBe("running");
    expect((await qmpOnce<{ status: string }>(started.state_dir!, "query-status")).status).toBe("running");
    await engine.client.vms.stop(vm.id, { timeout_seconds: 0 });
  });

  it("stop killed after its intent was recorded: recovery finishes the stop", async () => {
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const vm = await engine.client.vms.start((await createVm(engine.client, "t", fx.templateId)).id);
    expect(livePid(vm.state_dir)).not.toBeNull();

    const job = await killAt("stop:after-intent", "vm.stop", (c) => c.vms.stop(vm.id, { timeout_seconds: 0 }));
    expect(job.state).toBe("succeeded");
    expect((job.result as { power_state: string }).power_state).toBe("stopped");
    const after = (await engine.client.vms.get(vm.id))!;
    expect(after.power_state).toBe("stopped");
    expect(after.crashed).toBe(false);
    expect(livePid(vm.state_dir)).toBeNull();
  });

  it("delete killed after the records went, before the files: recovery removes its QEMU, state folder and disk", async () => {
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const keep = await createVm(engine.client, "keep", fx.templateId);
    const vm = await engine.client.vms.start((await createVm(engine.client, "d", fx.templateId)).id);

    const job = await killAt("delete:after-commit", "vm.delete", (c) => c.vms.delete(vm.id));
    expect(job.state).toBe("succeeded");
    expect(await engine.client.vms.get(vm.id)).toBeNull();
    expect(livePid(vm.state_dir)).toBeNull();
    // Nothing of it is left: every file under the datastore is the template's or the kept VM's.
    const owned = new Set<string>([...keep.disk_chain, ...(await engine.client.templates.list()).map((t) => t.disk_path)]);
    const files = (await filesUnder(path.join(dir, "ds", "clonefleet"))).filter((f) => path.basename(f) !== "catalog.json");
    expect(files.filter((f) => !owned.has(f))).toEqual([]);
    expect(await fs.readdir(path.join(stateDir, "vms"))).not.toContain(vm.id);
  });
});
