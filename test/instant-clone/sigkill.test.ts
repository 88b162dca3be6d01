import { promises as fs, existsSync, readdirSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { InstantCloneResultWire, ParentWire } from "../../engine/client";
import { readCatalog } from "../../engine/disk";
import { defaultParentTmpfsDir } from "../../engine/ops";
import { filesUnder } from "../support/files";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { checkClean, createVm, killAllVms, qmpOnce, vmFixture } from "../support/vms";

// Runs the built CLI (dist/): `npx tsc -p tsconfig.json` first. Real QEMU, TCG, 64 MiB VMs.
jest.setTimeout(150_000);

/** Live QEMU processes whose command line names a path under `dir`. */
function qemusUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z")) continue;
      if (cmd.startsWith("qemu-system") && cmd.includes(dir)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function holdAt(engine: EngineProcess, jobId: string, step: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const j = await engine.client.jobs.get(jobId);
    if (j?.progress.message === `fault hold: ${step}`) return;
    if (j && ["succeeded", "failed"].includes(j.state)) throw new Error(`the job ended (${j.state}: ${j.error?.message}) before the fault hold ${step}`);
    if (Date.now() > deadline) throw new Error(`the job never reached ${step}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function spawnWithHold(stateDir: string, variable: string, step: string): Promise<EngineProcess> {
  process.env[variable] = step;
  try {
    return await spawnEngine(stateDir, ["--accel", "tcg"]);
  } finally {
    delete process.env[variable];
  }
}

describe.each([
  { step: "after-state", outcome: "rolled back" },
  { step: "before-commit", outcome: "rolled back" },
  { step: "after-commit", outcome: "finished" },
])("engine SIGKILL while making a parent ($step)", ({ step, outcome }) => {
  let dir: string;
  let engine: EngineProcess | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-ick-"));
  });
  afterAll(async () => {
    await engine?.kill();
    await killAllVms(path.join(dir, "state", "vms"));
    await fs.rm(defaultParentTmpfsDir(path.join(dir, "state")), { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
  });

  it(`restarts with the capture ${outcome}: no half-made parent, no orphan process or file`, async () => {
    const stateDir = path.join(dir, "state");
    const tmpfs = defaultParentTmpfsDir(stateDir);
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const src = await engine.client.vms.start((await createVm(engine.client, "src", fx.templateId)).id);
    await engine.stop();

    engine = await spawnWithHold(stateDir, "CLONEFLEET_FAULT_PARENT_HOLD", step);
    const job = await engine.client.parents.create({ source_vm_id: src.id, name: "p" });
    await holdAt(engine, job.id, step);
    await engine.kill();

    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const after = (await engine.client.jobs.get(job.id))!;
    const parents = await engine.client.parents.list();
    const vm = (await engine.client.vms.get(src.id))!;
    const dsFiles = await filesUnder(path.join(dir, "ds", "clonefleet"));
    for (const f of dsFiles.filter((x) => x.endsWith(".qcow2"))) expect(await checkClean(f)).toBe(true);
    if (outcome === "rolled back") {
      expect(after.state).toBe("failed");
      expect(after.error?.code).toBe("CF_INTERRUPTED");
      expect(parents).toEqual([]);
      // The source runs on, on the very disk it had, with its RAM file back in place.
      expect(vm.power_state).toBe("running");
      expect(vm.disk_path).toBe(src.disk_path);
      expect((await qmpOnce<{ status: string }>(vm.state_dir!, "query-status")).status).toBe("running");
      expect(existsSync(path.join(vm.state_dir!, "ram"))).toBe(true);
      expect(dsFiles.filter((f) => f.includes("/parents/"))).toEqual([]);
      expect(existsSync(tmpfs) ? readdirSync(tmpfs) : []).toEqual([]);
    } else {
      expect(after.state).toBe("succeeded");
      expect(parents).toHaveLength(1);
      const p: ParentWire = parents[0];
      expect(p.state).toBe("ready");
      expect(existsSync(p.ram_path) && existsSync(p.device_state_path)).toBe(true);
      expect(vm.power_state).toBe("stopped");
      expect(qemusUnder(vm.state_dir!)).toEqual([]);
      expect(vm.disk_chain[1]).toBe(p.disk_path);
      // The parent is whole: a child starts from it.
      const cj = await engine.client.parents.clone(p.id, { count: 1, name_prefix: "k" });
      const r = (await engine.client.waitJob(cj.id, { timeoutMs: 60_000 })).result as InstantCloneResultWire;
      expect(r.children[0].power_state).toBe("running");
      await engine.client.vms.delete(r.children[0].id);
      await engine.client.parents.delete(p.id);
    }
  });
});

describe("engine SIGKILL while starting instant clones", () => {
  let dir: string;
  let engine: EngineProcess | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-icc-"));
  });
  afterAll(async () => {
    await engine?.kill();
    await killAllVms(path.join(dir, "state", "vms"));
    await fs.rm(defaultParentTmpfsDir(path.join(dir, "state")), { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("restarts with none of the children: their QEMU processes killed, their files removed, the parent whole", async () => {
    const stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const src = await engine.client.vms.start((await createVm(engine.client, "src", fx.templateId)).id);
    const pj = await engine.client.parents.create({ source_vm_id: src.id, name: "p" });
    const parent = (await engine.client.waitJob(pj.id, { timeoutMs: 60_000 })).result as ParentWire;
    await engine.stop();

    engine = await spawnWithHold(stateDir, "CLONEFLEET_FAULT_CLONE_HOLD", "before-commit");
    const job = await engine.client.parents.clone(parent.id, { count: 3, name_prefix: "k" });
    await holdAt(engine, job.id, "before-commit");
    // Every child runs when the engine dies.
    const vmsRoot = path.join(stateDir, "vms");
    expect(qemusUnder(vmsRoot).length).toBe(3);
    await engine.kill();

    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const after = (await engine.client.jobs.get(job.id))!;
    expect(after.state).toBe("failed");
    expect((await engine.client.vms.list()).filter((v) => v.instant_clone_of === parent.id)).toEqual([]);
    expect(qemusUnder(vmsRoot)).toEqual([]);
    expect(readdirSync(vmsRoot).filter((d) => d !== src.id)).toEqual([]);
    const dsFiles = await filesUnder(path.join(dir, "ds", "clonefleet"));
    const vmsHomes = path.join(dir, "ds", "clonefleet", "vms");
    expect(dsFiles.filter((f) => f.includes("/clonefleet/tmp/") || (f.startsWith(vmsHomes + "/") && !f.startsWith(src.home_dir + "/")))).toEqual([]);
    const p = (await engine.client.parents.get(parent.id))!;
    expect(p.state).toBe("ready");
    expect(p.children).toEqual([]);

    // The names are free again and the parent clones.
    const again = await engine.client.parents.clone(parent.id, { count: 2, name_prefix: "k" });
    const r = (await engine.client.waitJob(again.id, { timeoutMs: 60_000 })).result as InstantCloneResultWire;
    expect(r.children.map((c) => c.name)).toEqual(["k-1", "k-2"]);
    for (const c of r.children) await engine.client.vms.delete(c.id);
    await engine.client.parents.delete(parent.id);
  });
});

describe("engine SIGKILL with pre-started children", () => {
  let dir: string;
  let engine: EngineProcess | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-icw-"));
  });
  afterAll(async () => {
    await engine?.kill();
    await killAllVms(path.join(dir, "state", "vms"));
    await fs.rm(defaultParentTmpfsDir(path.join(dir, "state")), { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("the next start removes the orphaned ones (processes and files) and pre-starts new ones", async () => {
    const stateDir = path.join(dir, "state");
    const vmsRoot = path.join(stateDir, "vms");
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const src = await engine.client.vms.start((await createVm(engine.client, "src", fx.templateId)).id);
    const pj = await engine.client.parents.create({ source_vm_id: src.id, name: "p", warm_count: 2 });
    const parent = (await engine.client.waitJob(pj.id, { timeoutMs: 60_000 })).result as ParentWire;
    const warmReady = async (e: EngineProcess, n: number) => {
      for (const deadline = Date.now() + 60_000; (await e.client.parents.get(parent.id))!.warm_ready !== n; ) {
        if (Date.now() > deadline) throw new Error(`${n} pre-started children never became ready`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await warmReady(engine, 2);
    const orphans = qemusUnder(vmsRoot);
    expect(orphans).toHaveLength(2);
    const orphanDirs = readdirSync(vmsRoot).filter((d) => d !== src.id);
    await engine.kill();
    // Killing the engine leaves them running: QEMU outlives the engine by design.
    expect(qemusUnder(vmsRoot).sort()).toEqual(orphans.sort());

    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    for (const pid of orphans) expect(qemusUnder(vmsRoot)).not.toContain(pid);
    for (const d of orphanDirs) {
      expect(existsSync(path.join(vmsRoot, d))).toBe(false);
      expect(existsSync(path.join(dir, "ds", "clonefleet", "vms", d))).toBe(false);
    }
    await warmReady(engine, 2);
    expect(readdirSync(vmsRoot).filter((d) => d !== src.id && !orphanDirs.includes(d))).toHaveLength(2);

    await engine.client.parents.update(parent.id, { warm_count: 0 });
    await warmReady(engine, 0);
    await engine.client.parents.delete(parent.id);
  });
});

describe("engine SIGKILL right after taking a pre-started child", () => {
  let dir: string;
  let engine: EngineProcess | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-ict-"));
  });
  afterAll(async () => {
    await engine?.kill();
    await killAllVms(path.join(dir, "state", "vms"));
    await fs.rm(defaultParentTmpfsDir(path.join(dir, "state")), { recursive: true, force: true });
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("the next start lists the child's layer in the datastore's catalog (the answer did not wait for the catalog)", async () => {
    const stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const src = await engine.client.vms.start((await createVm(engine.client, "src", fx.templateId)).id);
    const pj = await engine.client.parents.create({ source_vm_id: src.id, name: "p", warm_count: 1 });
    const parent = (await engine.client.waitJob(pj.id, { timeoutMs: 60_000 })).result as ParentWire;
    for (const deadline = Date.now() + 60_000; (await engine.client.parents.get(parent.id))!.warm_ready < 1; ) {
      if (Date.now() > deadline) throw new Error("the pre-started child never became ready");
      await new Promise((r) => setTimeout(r, 100));
    }
    const cj = await engine.client.parents.clone(parent.id, { count: 1, name_prefix: "k" });
    const kid = ((await engine.client.waitJob(cj.id, { timeoutMs: 60_000 })).result as InstantCloneResultWire).children[0];
    await engine.kill();

    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const ds = (await engine.client.datastores.list())[0];
    const top = (await engine.client.disks.chain(kid.disk_path)).layers[0];
    expect(top.content_id).not.toBeNull();
    const entry = (await readCatalog(ds.path)).find((e) => e.path === kid.disk_path);
    expect(entry?.contentId).toBe(top.content_id);
    expect((await engine.client.vms.get(kid.id))!.power_state).toBe("running");

    await engine.client.parents.update(parent.id, { warm_count: 0 });
    for (const deadline = Date.now() + 60_000; (await engine.client.parents.get(parent.id))!.warm_ready !== 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    await engine.client.vms.delete(kid.id);
    await engine.client.parents.delete(parent.id);
  });
});
