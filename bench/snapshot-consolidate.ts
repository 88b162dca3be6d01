/**
 * Benchmark of snapshot consolidation (S4): for deltas of 64 and 256 MiB (and 1024 with
 * --big), the time a live consolidation takes (snapshot deleted on a running VM: active
 * block-commit, READY, job-complete pivot) and the guest-visible pause (the pivot's
 * `job-complete` → BLOCK_JOB_COMPLETED time, with the VM's run state read around it), next to
 * an offline `qemu-img commit` of the same delta, whose downtime is its whole duration.
 * Run after a build:
 *
 *   node dist/bench/snapshot-consolidate.js [--big] [--dir DIR] [--json]
 *
 * Firmware-only VM (64 MiB RAM) on the engine's accelerator setting (auto). Wall-clock figures
 * of one run on a noisy machine, not lab numbers.
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { startEngine } from "../engine/api/engine";
import { ClonefleetClient, type SnapshotWire, type VmWire } from "../engine/client";
import { QmpClient, probeVm } from "../engine/hypervisor";

const run = promisify(execFile);
const MiB = 1024 * 1024;

interface Row {
  deltaMib: number;
  liveMs: number;
  pivotMs: number | null;
  guestPaused: boolean;
  liveMibPerSec: number;
  offlineMs: number;
  offlineMibPerSec: number;
  throughputRatio: number;
}

async function withQmp<T>(stateDir: string, fn: (q: QmpClient) => Promise<T>): Promise<T> {
  const q = await QmpClient.connect(path.join(stateDir, "qmp.sock"), { timeoutMs: 20_000 });
  try {
    return await fn(q);
  } finally {
    await q.disconnect();
  }
}

/** Writes `mib` MiB of a pattern through the guest's disk device, 64 MiB per request. */
async function guestFill(stateDir: string, mib: number, pattern: number): Promise<void> {
  await withQmp(stateDir, async (q) => {
    const qdev = (await q.execute("query-block")).find((b) => (b.qdev ?? "").includes("disk0-dev"))?.qdev;
    for (let at = 0; at < mib; at += 64) {
      const out = await q.hmp(`qemu-io -d ${qdev} "write -P ${pattern} ${at}M ${Math.min(64, mib - at)}M"`, { timeoutMs: 120_000 });
      if (out.trim()) throw new Error(`qemu-io: ${out}`);
    }
  });
}

async function offlineCommit(dir: string, sizeMib: number, deltaMib: number): Promise<number> {
  const base = path.join(dir, "off-base.qcow2");
  const top = path.join(dir, "off-top.qcow2");
  await run("qemu-img", ["create", "-q", "-f", "qcow2", base, `${sizeMib}M`]);
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top]);
  const cmds: string[] = [];
  for (let at = 0; at < deltaMib; at += 64) cmds.push("-c", `write -P 0x5b ${at}M ${Math.min(64, deltaMib - at)}M`);
  await run("qemu-io", ["-f", "qcow2", ...cmds, top], { maxBuffer: 16 * MiB });
  const t0 = performance.now();
  await run("qemu-img", ["commit", "-q", "-d", top]);
  const ms = performance.now() - t0;
  await fs.rm(base);
  await fs.rm(top);
  return ms;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes("--json");
  const big = argv.includes("--big");
  const at = argv.indexOf("--dir");
  const deltas = big ? [64, 256, 1024] : [64, 256];
  const sizeMib = Math.max(...deltas) + 64;
  const dir = at >= 0 ? path.resolve(argv[at + 1]) : await fs.mkdtemp(path.join(os.tmpdir(), "cf-bench-snap-"));
  const engine = await startEngine({ stateDir: path.join(dir, "state"), host: "127.0.0.1", port: 0, log: pino({ level: "warn" }), accel: "auto" });
  const client = new ClonefleetClient({ endpoint: engine.url, token: engine.token });
  const rows: Row[] = [];
  let vm: VmWire | null = null;
  try {
    await fs.mkdir(path.join(dir, "ds"), { recursive: true });
    const ds = await client.datastores.create({ name: "bench", path: path.join(dir, "ds") });
    const img = path.join(dir, "blank.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", img, `${sizeMib}M`]);
    const tj = await client.templates.import({ name: "bench", datastore_id: ds.id, source_path: img, memory_mb: 64, vcpus: 1 });
    const templateId = ((await client.waitJob(tj.id)).result as { id: string }).id;
    const vj = await client.vms.create({ name: "bench", template_id: templateId, clone_mode: "full" });
    vm = await client.vms.start(((await client.waitJob(vj.id)).result as VmWire).id);
    for (const deltaMib of deltas) {
      const sj = await client.snapshots.create(vm.id, { name: `d${deltaMib}` });
      const s = (await client.waitJob(sj.id)).result as SnapshotWire;
      await guestFill(vm.state_dir!, deltaMib, 0x40 + rows.length);
      const dj = await client.snapshots.delete(s.id);
      const r = (await client.waitJob(dj.id, { timeoutMs: 30 * 60_000 })).result as { duration_ms: number; pivot_ms: number | null; guest_paused: boolean };
      const offlineMs = await offlineCommit(dir, sizeMib, deltaMib);
      const liveMibPerSec = deltaMib / (r.duration_ms / 1000);
      const offlineMibPerSec = deltaMib / (offlineMs / 1000);
      rows.push({
        deltaMib,
        liveMs: Math.round(r.duration_ms),
        pivotMs: r.pivot_ms,
        guestPaused: r.guest_paused,
        liveMibPerSec: Math.round(liveMibPerSec),
        offlineMs: Math.round(offlineMs),
        offlineMibPerSec: Math.round(offlineMibPerSec),
        throughputRatio: Math.round((liveMibPerSec / offlineMibPerSec) * 100) / 100,
      });
    }
  } finally {
    if (vm?.state_dir) {
      const p = await probeVm(vm.state_dir).catch(() => null);
      if (p?.state === "running") await client.vms.stop(vm.id, { timeout_seconds: 0 }).catch(() => process.kill(-p.pid, "SIGKILL"));
    }
    await engine.close();
    if (at < 0) await fs.rm(dir, { recursive: true, force: true });
  }
  if (json) {
    process.stdout.write(JSON.stringify({ rows }, null, 2) + "\n");
    return;
  }
  process.stdout.write("delta MiB | live consolidation ms (MiB/s) | pivot ms | guest paused | offline qemu-img commit ms (MiB/s) = downtime | live/offline throughput\n");
  for (const r of rows) {
    process.stdout.write(
      `${String(r.deltaMib).padStart(9)} | ${String(r.liveMs).padStart(8)} (${r.liveMibPerSec}) | ${String(r.pivotMs ?? "-").padStart(8)} | ${r.guestPaused ? "yes" : "no "} | ${String(r.offlineMs).padStart(8)} (${r.offlineMibPerSec}) | ${r.throughputRatio}\n`,
    );
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
