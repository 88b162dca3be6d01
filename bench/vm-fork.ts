/**
 * Benchmark of VM fork (S5) with disk inheritance (S2), through the engine's API in one run:
 *  - the parent's stun time and the child's time to running (from the stun, and from the
 *    request: the RAM is copied by a live migration before the stun) for a 256 MiB guest (and
 *    1 GiB with --big), firmware-only under the host's accelerator; the first fork of a VM on a
 *    base layer freezes it (the parent moves live onto an overlay), later forks copy the
 *    parent's delta;
 *    next to the plain alternative, a full state save of the same stunned parent (RAM in the
 *    stream, QEMU's default bandwidth and raised); the parents' RAM is filled with data first
 *    (written through their shared RAM file), as a guest in use would have it, unless --idle;
 *  - read throughput of a child's whole disk after 1 and 10 fork generations, next to a naive
 *    fork that stacks deltas (a chain of depth 11), each generation having written its own data,
 *    with a warm page cache and cold (O_DIRECT reads, `qemu-img convert -T none`, so every
 *    layer lookup goes to the disk; --drop-caches drops the host's page cache before each
 *    cold run as well).
 * Run after a build:
 *
 *   node dist/bench/vm-fork.js [--big] [--idle] [--drop-caches] [--forks N] [--data-mib N] [--dir DIR] [--json] [--keep]
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { startEngine } from "../engine/api/engine";
import { ClonefleetClient, type VmWire } from "../engine/client";
import { QemuProcess, probeVm, saveState } from "../engine/hypervisor";

const run = promisify(execFile);
const MiB = 1024 * 1024;

type ForkResult = VmWire & { parent_stun_ms: number | null; child_ready_ms: number | null; layout: string };

interface Options {
  big: boolean;
  idle: boolean;
  dropCaches: boolean;
  forks: number;
  dataMib: number;
  dir: string | null;
  json: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { big: false, idle: false, dropCaches: false, forks: 5, dataMib: 256, dir: null, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (v: string | undefined) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a}: expected a positive integer, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === "--big") o.big = true;
    else if (a === "--idle") o.idle = true;
    else if (a === "--drop-caches") o.dropCaches = true;
    else if (a === "--forks") o.forks = num(argv[++i]);
    else if (a === "--data-mib") o.dataMib = num(argv[++i]);
    else if (a === "--dir") o.dir = path.resolve(argv[++i] ?? "");
    else if (a === "--json") o.json = true;
    else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown option ${a} (use --big, --idle, --drop-caches, --forks N, --data-mib N, --dir DIR, --json, --keep)`);
  }
  return o;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function fork(client: ClonefleetClient, id: string, name: string): Promise<{ child: ForkResult; jobMs: number }> {
  const t0 = performance.now();
  const job = await client.vms.fork(id, { name });
  const done = await client.waitJob(job.id, { timeoutMs: 300_000 });
  return { child: done.result as ForkResult, jobMs: performance.now() - t0 };
}

/**
 * Reads the whole guest-visible disk of `top` through its chain; MiB/s, median of 5 runs. Warm:
 * through the page cache (after a first read fills it). Cold: O_DIRECT, and with `drop` the
 * host's page cache dropped before each run (we run as root).
 */
async function readThroughput(top: string, sizeBytes: number, mode: "warm" | "cold", drop: boolean): Promise<number> {
  const rates: number[] = [];
  const args = ["convert", "-U", "-n", "-f", "qcow2", ...(mode === "cold" ? ["-T", "none"] : []), top, "--target-image-opts", `driver=null-co,size=${sizeBytes}`];
  // A raw convert to /dev/null cannot grow the device (MACHINE-NOTES.md): read into null-co.
  if (mode === "warm") await run("qemu-img", args);
  for (let i = 0; i < 5; i++) {
    if (mode === "cold" && drop) await run("sh", ["-c", "sync && echo 3 > /proc/sys/vm/drop_caches"]);
    const t0 = performance.now();
    await run("qemu-img", args);
    rates.push(sizeBytes / MiB / ((performance.now() - t0) / 1000));
  }
  return median(rates);
}

/**
 * Writes data over most of a running VM's guest RAM through its shared RAM file, as a guest in
 * use would have it: from 1 MiB to 3/4 of the size, clear of the low memory and of the top
 * where the firmware keeps itself.
 */
async function fillGuestRam(stateDir: string, memoryMb: number): Promise<void> {
  const fh = await fs.open(path.join(stateDir, "ram"), "r+");
  try {
    const block = Buffer.alloc(4 * MiB);
    for (let off = MiB; off + block.length <= (memoryMb * MiB * 3) / 4; off += block.length) {
      for (let i = 0; i < block.length; i += 4096) block.writeUInt32LE((off + i) >>> 0, i);
      block.fill(0xa5, 8, 4096);
      await fh.write(block, 0, block.length, off);
    }
  } finally {
    await fh.close();
  }
}

/** The plain alternative to a fork's stun: `stop`, a full state save (RAM in the stream), `cont`; ms. */
async function fullSaveStun(stateDir: string, file: string, maxBandwidth: number | undefined): Promise<number> {
  const proc = await QemuProcess.reattach(stateDir, { timeoutMs: 5000 });
  try {
    const t0 = performance.now();
    await proc.pause();
    await saveState(proc.qmp, file, { ignoreShared: false, maxBandwidthBytesPerSec: maxBandwidth });
    await proc.resume();
    return performance.now() - t0;
  } finally {
    await proc.detach();
    await fs.rm(file, { force: true });
  }
}

async function qemuIo(file: string, cmd: string): Promise<void> {
  await run("qemu-io", ["-f", "qcow2", "-c", cmd, file]);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = o.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "cf-bench-fork-")));
  await fs.mkdir(dir, { recursive: true });
  const engine = await startEngine({ stateDir: path.join(dir, "state"), host: "127.0.0.1", port: 0, log: pino({ level: "silent" }) });
  const client = new ClonefleetClient({ endpoint: engine.url, token: engine.token });
  const out: Record<string, unknown> = {};
  const say = (s: string) => {
    if (!o.json) process.stdout.write(s + "\n");
  };
  try {
    const dsPath = path.join(dir, "ds");
    await fs.mkdir(dsPath, { recursive: true });
    const ds = await client.datastores.create({ name: "bench", path: dsPath });
    const virtualBytes = Math.max(512, o.dataMib * 2) * MiB;
    const image = path.join(dir, "base.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", image, String(virtualBytes)]);
    await qemuIo(image, `write -P 0x5a 0 ${o.dataMib}M`);

    // 1. Stun and time to running.
    const sizes = o.big ? [256, 1024] : [256];
    const stun: Record<string, unknown>[] = [];
    for (const memoryMb of sizes) {
      const tj = await client.templates.import({ name: `t${memoryMb}`, datastore_id: ds.id, source_path: image, memory_mb: memoryMb, vcpus: 1 });
      const tpl = (await client.waitJob(tj.id)).result as { id: string };
      const vj = await client.vms.create({ name: `p${memoryMb}`, template_id: tpl.id, clone_mode: "linked" });
      const vmA = (await client.waitJob(vj.id)).result as VmWire;
      const fj = await client.vms.create({ name: `f${memoryMb}`, template_id: tpl.id, clone_mode: "full" });
      const vmB = (await client.waitJob(fj.id)).result as VmWire;
      const parent = await client.vms.start(vmA.id);
      const frozenParent = await client.vms.start(vmB.id);
      if (!o.idle) for (const p of [parent, frozenParent]) await fillGuestRam(p.state_dir!, memoryMb);
      const copied: { stun: number; ready: number; job: number }[] = [];
      for (let i = 0; i < o.forks; i++) {
        const { child, jobMs } = await fork(client, parent.id, `p${memoryMb}-c${i}`);
        copied.push({ stun: child.parent_stun_ms ?? NaN, ready: child.child_ready_ms ?? NaN, job: jobMs });
        await client.vms.stop(child.id, { timeout_seconds: 0 });
      }
      const { child: fc, jobMs: fjMs } = await fork(client, frozenParent.id, `f${memoryMb}-c0`);
      await client.vms.stop(fc.id, { timeout_seconds: 0 });
      const plainDefault = await fullSaveStun(parent.state_dir!, path.join(dir, "full.state"), 128 * MiB);
      const plainRaised = await fullSaveStun(parent.state_dir!, path.join(dir, "full.state"), undefined);
      const row = {
        memoryMb,
        accel: parent.accel,
        copiedDelta: { stunMsMedian: median(copied.map((c) => c.stun)), childReadyMsMedian: median(copied.map((c) => c.ready)), jobMsMedian: median(copied.map((c) => c.job)), runs: copied.length },
        frozenBase: { stunMs: fc.parent_stun_ms, childReadyMs: fc.child_ready_ms, jobMs: fjMs },
        ramFilled: !o.idle,
        plainFullSave: { defaultBandwidthStunMs: plainDefault, raisedBandwidthStunMs: plainRaised },
      };
      stun.push(row);
      say(
        `${memoryMb} MiB guest (${parent.accel}, firmware idle): copied-delta fork: parent stun ${row.copiedDelta.stunMsMedian.toFixed(1)} ms, ` +
          `child running ${row.copiedDelta.childReadyMsMedian.toFixed(1)} ms after the stun began, ${row.copiedDelta.jobMsMedian.toFixed(0)} ms after the request (median of ${copied.length}); ` +
          `frozen-base fork: stun ${fc.parent_stun_ms} ms, child running ${fc.child_ready_ms} ms after the stun began, ${fjMs.toFixed(0)} ms after the request`,
      );
      say(
        `  plain alternative, stun of a full state save: ${plainDefault.toFixed(0)} ms at QEMU's default bandwidth, ${plainRaised.toFixed(0)} ms raised; ` +
          `fork stun is ${(row.copiedDelta.stunMsMedian / plainRaised).toFixed(2)}x (copied delta) / ${((fc.parent_stun_ms ?? NaN) / plainRaised).toFixed(2)}x (frozen base) of the raised one` +
          (o.idle ? " (RAM idle)" : " (RAM filled to 3/4)"),
      );
      await client.vms.stop(parent.id, { timeout_seconds: 0 });
      await client.vms.stop(frozenParent.id, { timeout_seconds: 0 });
    }
    out.stun = stun;

    // 2. Read throughput after 1 and 10 generations, next to a naive stacked chain of depth 11.
    const tj = await client.templates.import({ name: "tread", datastore_id: ds.id, source_path: image, memory_mb: 64, vcpus: 1 });
    const tpl = (await client.waitJob(tj.id)).result as { id: string };
    const vj = await client.vms.create({ name: "g0", template_id: tpl.id, clone_mode: "linked" });
    let cur = (await client.waitJob(vj.id)).result as VmWire;
    const gens: VmWire[] = [];
    const naive: string[] = [cur.disk_chain[cur.disk_chain.length - 1]];
    const chunk = Math.max(1, Math.floor(o.dataMib / 16));
    for (let g = 1; g <= 10; g++) {
      // Each generation writes its own data before it is forked (stopped VMs: disk forks).
      await qemuIo(cur.disk_path, `write -P ${g} ${(g - 1) * chunk}M ${chunk}M`);
      const { child } = await fork(client, cur.id, `g${g}`);
      gens.push(child);
      cur = child;
      const layer = path.join(dir, `naive-${g}.qcow2`);
      await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", naive[naive.length - 1], "-F", "qcow2", "-u", layer, String(virtualBytes)]);
      await qemuIo(layer, `write -P ${g} ${(g - 1) * chunk}M ${chunk}M`);
      naive.push(layer);
    }
    const last = path.join(dir, "naive-top.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", naive[naive.length - 1], "-F", "qcow2", "-u", last, String(virtualBytes)]);
    const read: Record<string, unknown> = { virtualMib: virtualBytes / MiB };
    for (const mode of ["warm", "cold"] as const) {
      const gen1 = await readThroughput(gens[0].disk_path, virtualBytes, mode, o.dropCaches);
      const gen10 = await readThroughput(gens[9].disk_path, virtualBytes, mode, o.dropCaches);
      const naive11 = await readThroughput(last, virtualBytes, mode, o.dropCaches);
      read[mode] = {
        gen1: { depth: gens[0].chain_depth, mibPerSec: gen1 },
        gen10: { depth: gens[9].chain_depth, mibPerSec: gen10 },
        naive: { depth: naive.length + 1, mibPerSec: naive11 },
        gen10OverGen1: gen10 / gen1,
        naiveOverGen10: naive11 / gen10,
      };
      say(
        `read of a child's whole disk, ${mode === "warm" ? "page cache warm" : o.dropCaches ? "cold (O_DIRECT, caches dropped)" : "cold (O_DIRECT)"} ` +
          `(${virtualBytes / MiB} MiB virtual, ${o.dataMib} MiB base data): ` +
          `gen 1 (depth ${gens[0].chain_depth}) ${gen1.toFixed(0)} MiB/s; gen 10 (depth ${gens[9].chain_depth}) ${gen10.toFixed(0)} MiB/s ` +
          `(${((gen10 / gen1) * 100).toFixed(0)}% of gen 1); naive stacked chain (depth ${naive.length + 1}) ${naive11.toFixed(0)} MiB/s ` +
          `(${(naive11 / gen10).toFixed(2)}x gen 10)`,
      );
    }
    out.read = read;
    if (o.json) process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  } finally {
    for (const vm of await client.vms.list().catch(() => [])) {
      if (vm.state_dir && (await probeVm(vm.state_dir).catch(() => null))?.state === "running") await client.vms.stop(vm.id, { timeout_seconds: 0 }).catch(() => undefined);
    }
    await engine.close();
    if (!o.keep && !o.dir) await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
