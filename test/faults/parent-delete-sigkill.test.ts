import { existsSync, promises as fs, readdirSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ParentWire, VmWire } from "../../engine/client";
import { defaultParentTmpfsDir } from "../../engine/ops";
import { filesUnder } from "../support/files";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { killAtHold } from "../support/fault-hold";
import { checkClean, createVm, killAllVms, vmFixture } from "../support/vms";

// Runs the built CLI (dist/): `npx tsc -p tsconfig.json` first. Real QEMU (TCG), qemu-img and SQLite.
jest.setTimeout(180_000);

const ARGS = ["--accel", "tcg"];

describe("engine SIGKILL during a parent.delete job", () => {
  let dir: string;
  let stateDir: string;
  let engine: EngineProcess;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-pd-"));
    stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ARGS);
  });
  afterEach(async () => {
    await engine.kill();
    await killAllVms(path.join(stateDir, "vms"));
    await fs.rm(defaultParentTmpfsDir(stateDir), { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A parent captured from a running VM (which ends stopped, on an overlay of the parent's frozen layer). */
  async function captured(): Promise<{ parent: ParentWire; src: VmWire }> {
    const fx = await vmFixture(engine.client, dir);
    const src = await engine.client.vms.start((await createVm(engine.client, "src", fx.templateId)).id);
    const pj = await engine.client.parents.create({ source_vm_id: src.id, name: "p" });
    const parent = (await engine.client.waitJob(pj.id, { timeoutMs: 60_000 })).result as ParentWire;
    return { parent, src: (await engine.client.vms.get(src.id))! };
  }

  const parentFiles = async () => (await filesUnder(path.join(dir, "ds", "clonefleet"))).filter((f) => f.includes("/parents/"));
  const tmpfsEntries = () => (existsSync(defaultParentTmpfsDir(stateDir)) ? readdirSync(defaultParentTmpfsDir(stateDir)) : []);

  it("killed after its intent, before the record went: the parent is kept whole, then deletes", async () => {
    const { parent } = await captured();
    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "parent-delete:after-intent", kind: "parent.delete" }, (c) => c.parents.delete(parent.id));
    engine = r.engine;
    expect(r.job.state).toBe("failed");
    expect(r.job.error?.code).toBe("CF_INTERRUPTED");
    // Record and files agree: the parent is ready, which means its RAM file, device state and frozen layer are there.
    const kept = (await engine.client.parents.get(parent.id))!;
    expect(kept.state).toBe("ready");
    expect(existsSync(kept.ram_path) && existsSync(kept.device_state_path) && existsSync(kept.disk_path)).toBe(true);

    await engine.client.parents.delete(parent.id);
    expect(await engine.client.parents.get(parent.id)).toBeNull();
    expect(await parentFiles()).toEqual([]);
    expect(tmpfsEntries()).toEqual([]);
  });

  it("killed after the record went, before the files: recovery removes its RAM file and state, and the source VM keeps a whole disk", async () => {
    const { parent, src } = await captured();
    expect(src.disk_chain[1]).toBe(parent.disk_path);
    const r = await killAtHold(engine, stateDir, ARGS, { variable: "CLONEFLEET_FAULT_HOLD", step: "parent-delete:after-commit", kind: "parent.delete" }, (c) => c.parents.delete(parent.id));
    engine = r.engine;
    expect(r.job.state).toBe("succeeded");
    expect(await engine.client.parents.get(parent.id)).toBeNull();
    expect(existsSync(parent.ram_path)).toBe(false);
    expect(existsSync(parent.device_state_path)).toBe(false);
    expect(tmpfsEntries()).toEqual([]);
    // The frozen layer moved into the (stopped) source VM's home, as an uninterrupted delete does; nothing of the parent is left.
    expect(await parentFiles()).toEqual([]);
    const vm = (await engine.client.vms.get(src.id))!;
    expect(vm.state).toBe("ready");
    expect(vm.disk_chain[1].startsWith(vm.home_dir + path.sep)).toBe(true);
    expect((r.job.result as { kept_layer: string | null }).kept_layer).toBe(vm.disk_chain[1]);
    for (const f of vm.disk_chain) expect(await checkClean(f)).toBe(true);
    const started = await engine.client.vms.start(vm.id);
    expect(started.power_state).toBe("running");
    await engine.client.vms.stop(vm.id, { timeout_seconds: 0 });
  });
});
