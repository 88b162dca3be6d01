import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { startEngine, type RunningEngine } from "../../engine/api/engine";
import { ClonefleetClient } from "../../engine/client";
import { engineDir } from "../../engine/disk";
import { createVm, killAllVms, vmFixture } from "../support/vms";
import { snap } from "../snapshots/helpers";

const run = promisify(execFile);

// Real qemu-img and QEMU (firmware-only VMs, 64 MiB of RAM); every QEMU is killed in afterAll.
jest.setTimeout(180_000);

/** Every folder and file under `dir` (symlinks included, not followed) with its permission bits. */
async function modesUnder(dir: string): Promise<{ path: string; mode: number; isDir: boolean }[]> {
  const out: { path: string; mode: number; isDir: boolean }[] = [];
  const visit = async (p: string) => {
    const st = await fs.lstat(p);
    out.push({ path: p, mode: st.mode & 0o7777, isDir: st.isDirectory() });
    if (st.isDirectory()) for (const n of await fs.readdir(p)) await visit(path.join(p, n));
  };
  await visit(dir);
  return out;
}

/** The entries other local users could read, or the group could write, shown as `path 0mode`. */
const open = (entries: { path: string; mode: number }[]) => entries.filter((e) => (e.mode & 0o027) !== 0).map((e) => `${e.path} 0${e.mode.toString(8)}`);

describe("modes of what the engine writes", () => {
  const silent = pino({ level: "silent" });
  let dir: string;
  let stateDir: string;
  let engine: RunningEngine | null = null;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-modes-"));
    stateDir = path.join(dir, "state");
  });
  afterAll(async () => {
    await killAllVms(path.join(stateDir, "vms"));
    await engine?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("keeps every disk, copy, overlay, backup and folder of a datastore from other users, and tightens old ones at start", async () => {
    engine = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: silent, accel: "auto" });
    const client = new ClonefleetClient({ endpoint: engine.url, token: engine.token });
    const fx = await vmFixture(client, dir);
    const dsPath = path.join(dir, "ds");
    // A world-readable source and boot file: the engine's copies must not keep their modes.
    const kernel = path.join(dir, "vmlinuz");
    await fs.writeFile(kernel, "not a kernel, only copied");
    await fs.chmod(kernel, 0o755);
    const image = path.join(dir, "open.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", image, "16M"]);
    await fs.chmod(image, 0o644);
    await client.waitJob((await client.templates.import({ name: "with-kernel", datastore_id: fx.datastoreId, source_path: image, memory_mb: 64, vcpus: 1, kernel })).id);

    const pool = await client.pools.create({ template_id: fx.templateId, datastore_id: fx.datastoreId, size: 1 });
    await client.waitPoolReady(pool.id, { timeoutMs: 60_000 });
    await createVm(client, "from-pool", fx.templateId, "pool");
    await createVm(client, "linked", fx.templateId, "linked");
    const vm = await client.vms.start((await createVm(client, "running", fx.templateId)).id);
    // Made by QEMU itself: the live snapshot's new overlay.
    await snap(client, vm.id, "s1");
    const backup = path.join(dsPath, "backup.qcow2");
    await client.waitJob((await client.vms.backup(vm.id, { target_path: backup })).id, { timeoutMs: 60_000 });

    const entries = await modesUnder(engineDir(dsPath));
    expect(entries.filter((e) => !e.isDir && e.path.endsWith(".qcow2")).length).toBeGreaterThanOrEqual(6);
    expect(entries.some((e) => path.basename(e.path) === "kernel")).toBe(true);
    expect(open(entries)).toEqual([]);
    expect((await fs.stat(backup)).mode & 0o027).toBe(0);

    // A datastore left by an earlier build: world-readable files and folders get tightened at start.
    await killAllVms(path.join(stateDir, "vms"));
    await engine.close();
    engine = null;
    const disk = entries.find((e) => !e.isDir && e.path.endsWith(".qcow2"))!.path;
    await fs.chmod(disk, 0o644);
    await fs.chmod(engineDir(dsPath), 0o777);
    engine = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: silent, accel: "auto" });
    expect((await fs.stat(disk)).mode & 0o777).toBe(0o640);
    expect((await fs.stat(engineDir(dsPath))).mode & 0o777).toBe(0o750);
    expect(open(await modesUnder(engineDir(dsPath)))).toEqual([]);
  });
});

describe("the inventory's files", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-inv-modes-"));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it("are 0600 even in a state folder open to everyone, and an existing loose inventory is tightened", async () => {
    const stateDir = path.join(dir, "state");
    await fs.mkdir(stateDir);
    await fs.chmod(stateDir, 0o755);
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const inventory = ["inventory.sqlite", "inventory.sqlite-wal", "inventory.sqlite-shm"].map((f) => path.join(stateDir, f));
    const first = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log });
    try {
      for (const f of inventory) expect(`${f} 0${((await fs.stat(f)).mode & 0o777).toString(8)}`).toBe(`${f} 0600`);
      expect(lines.join("")).toContain("the state folder is open to other users");
    } finally {
      await first.close();
    }
    await fs.chmod(inventory[0], 0o644);
    const second = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log });
    try {
      for (const f of inventory) expect(`${f} 0${((await fs.stat(f)).mode & 0o777).toString(8)}`).toBe(`${f} 0600`);
    } finally {
      await second.close();
    }
  });
});
