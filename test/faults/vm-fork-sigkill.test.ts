import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { filesUnder } from "../support/files";
import { spawnEngine, type EngineProcess } from "../support/engine-process";
import { chainHas, checkClean, createVm, killAllVms, qmpOnce, vmFixture, writeInVm } from "../support/vms";

// Runs the built CLI (dist/): `npx tsc -p tsconfig.json` first. Real QEMU, TCG, 64 MiB VMs.
jest.setTimeout(120_000);

/** Steps where the fork parks (CLONEFLEET_FAULT_FORK_HOLD) so the SIGKILL lands there. */
const STEPS = [
  { step: "after-disks", layout: "frozen-base" },
  { step: "after-commit", layout: "copied-delta" },
  // Recorded on its new overlay, not yet switched onto it: the record must go back.
  { step: "after-commit", layout: "frozen-base" },
  { step: "after-switch", layout: "frozen-base" },
];

describe.each(STEPS)("engine SIGKILL during a fork ($step, $layout)", ({ step, layout }) => {
  let dir: string;
  let engine: EngineProcess | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-fk-"));
  });
  afterAll(async () => {
    await engine?.kill();
    await killAllVms(path.join(dir, "state", "vms"));
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("restarts with the parent running on a consistent chain, the child whole or gone, no orphan files", async () => {
    const stateDir = path.join(dir, "state");
    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const fx = await vmFixture(engine.client, dir);
    const parent = await engine.client.vms.start((await createVm(engine.client, "p", fx.templateId, layout === "frozen-base" ? "full" : "linked")).id);
    await writeInVm(parent.state_dir!, "0", 0x44);
    await engine.stop();

    process.env.CLONEFLEET_FAULT_FORK_HOLD = step;
    try {
      engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    } finally {
      delete process.env.CLONEFLEET_FAULT_FORK_HOLD;
    }
    const job = await engine.client.vms.fork(parent.id, { name: "c" });
    const deadline = Date.now() + 30_000;
    for (;;) {
      const j = await engine.client.jobs.get(job.id);
      if (j?.progress.message === `fault hold: ${step}`) break;
      if (j && ["succeeded", "failed"].includes(j.state)) throw new Error(`the fork ended (${j.state}) before the fault hold ${step}`);
      if (Date.now() > deadline) throw new Error(`the fork never reached ${step}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await engine.kill();

    engine = await spawnEngine(stateDir, ["--accel", "tcg"]);
    const after = (await engine.client.jobs.get(job.id))!;
    expect(["succeeded", "failed"]).toContain(after.state);

    const p = (await engine.client.vms.get(parent.id))!;
    expect(p.power_state).toBe("running");
    expect((await qmpOnce<{ status: string }>(p.state_dir!, "query-status")).status).toBe("running");
    // The chain the inventory names is the one QEMU writes, and every layer of it is sound.
    const blocks = await qmpOnce<{ qdev?: string; inserted?: { file: string } }[]>(p.state_dir!, "query-block");
    const active = blocks.find((b) => (b.qdev ?? "").includes("disk0-dev"))?.inserted?.file ?? "";
    // QEMU names a layer opened with explicit backing options by a json: filename.
    const activeFile = active.startsWith("json:") ? (JSON.parse(active.slice(5)) as { file: { filename: string } }).file.filename : active;
    expect(activeFile).toBe(p.disk_path);
    for (const layer of p.disk_chain) expect(await checkClean(layer)).toBe(true);
    expect(p.chain_depth).toBeLessThanOrEqual(2);

    const vms = await engine.client.vms.list();
    const child = vms.find((v) => v.name === "c");
    if (child) {
      expect(after.state).toBe("succeeded");
      for (const layer of child.disk_chain) expect(await checkClean(layer)).toBe(true);
      await qmpOnce(child.state_dir!, "stop");
      expect(await chainHas(child.disk_path, "0", 0x44)).toBe(true);
      await qmpOnce(child.state_dir!, "cont");
    } else {
      expect(after.state).toBe("failed");
    }
    // No orphans: every file under the datastore belongs to a VM's chain or the template, and
    // every VM state folder to a VM.
    const owned = new Set<string>(vms.flatMap((v) => v.disk_chain));
    for (const tpl of await engine.client.templates.list()) owned.add(tpl.disk_path);
    const files = (await filesUnder(path.join(dir, "ds", "clonefleet"))).filter((f) => path.basename(f) !== "catalog.json");
    expect(files.filter((f) => !owned.has(f))).toEqual([]);
    expect((await fs.readdir(path.join(stateDir, "vms"))).sort()).toEqual(vms.map((v) => v.id).sort());
    for (const v of vms) await engine.client.vms.stop(v.id, { timeout_seconds: 0 });
  });
});
