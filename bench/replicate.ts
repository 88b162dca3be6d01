/**
 * Benchmark of content-ID replication (S7): bytes and time to replicate a chain (a base and two
 * deltas) to a datastore that already holds the base, next to a full copy of the flattened
 * chain, in the same run. Run after a build:
 *
 *   node dist/bench/replicate.js [--base-mib 1024] [--delta-mib 64] [--dir DIR] [--json] [--keep]
 *
 * The deltas write regions the base does not hold, the case most favourable to the flattened
 * copy's ratio: it then carries base + deltas. Both copies read from the page cache as warm as
 * the chain build left it; the figures are wall-clock medians of one run, not lab numbers.
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { startEngine } from "../engine/api/engine";
import { ClonefleetClient, type ReplicaWire } from "../engine/client";
import { fullCopy } from "../engine/disk";

const run = promisify(execFile);
const MiB = 1024 * 1024;

interface Options {
  baseMib: number;
  deltaMib: number;
  dir: string | null;
  json: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { baseMib: 1024, deltaMib: 64, dir: null, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a}: expected a positive integer`);
      return v;
    };
    if (a === "--base-mib") o.baseMib = num();
    else if (a === "--delta-mib") o.deltaMib = num();
    else if (a === "--dir") o.dir = path.resolve(argv[++i] ?? "");
    else if (a === "--json") o.json = true;
    else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown option ${a} (use --base-mib N, --delta-mib N, --dir DIR, --json, --keep)`);
  }
  return o;
}

/** Writes `pattern` over [offsetMib, offsetMib + lengthMib) in 64 MiB requests (qemu-io buffers a whole request). */
async function fill(file: string, pattern: number, offsetMib: number, lengthMib: number): Promise<void> {
  const cmds: string[] = [];
  for (let at = 0; at < lengthMib; at += 64) cmds.push("-c", `write -P ${pattern} ${offsetMib + at}M ${Math.min(64, lengthMib - at)}M`);
  await run("qemu-io", ["-f", "qcow2", ...cmds, file], { maxBuffer: 16 * MiB });
}

async function allocatedBytes(file: string): Promise<number> {
  return (await fs.stat(file)).blocks * 512;
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { value, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = o.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "cf-bench-replicate-")));
  const engine = await startEngine({ stateDir: path.join(dir, "state"), host: "127.0.0.1", port: 0, log: pino({ level: "silent" }) });
  const client = new ClonefleetClient({ endpoint: engine.url, token: engine.token });
  const say = (line: string) => {
    if (!o.json) process.stderr.write(`${line}\n`);
  };
  try {
    const src = await client.datastores.create({ name: "bench-src", path: path.join(dir, "src") });
    const dst = await client.datastores.create({ name: "bench-dst", path: path.join(dir, "dst") });
    const disks = path.join(src.path, "disks");
    await fs.mkdir(disks, { recursive: true });
    const base = path.join(disks, "base.qcow2");
    const delta1 = path.join(disks, "delta1.qcow2");
    const delta2 = path.join(disks, "delta2.qcow2");
    const virtualMib = o.baseMib + 2 * o.deltaMib + 64;

    say(`building the chain: ${o.baseMib} MiB base, two ${o.deltaMib} MiB deltas (${virtualMib} MiB virtual)`);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", base, `${virtualMib}M`]);
    await fill(base, 0x11, 0, o.baseMib);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", delta1]);
    await fill(delta1, 0x22, o.baseMib, o.deltaMib);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", delta1, "-F", "qcow2", delta2]);
    await fill(delta2, 0x33, o.baseMib + o.deltaMib, o.deltaMib);
    await client.disks.register(delta2);

    say("seeding the target with the base (a replica of the base alone)");
    const seedJob = await client.replicas.create({ source_disk_path: base, target_datastore_id: dst.id });
    const seed = await timed(() => client.waitJob(seedJob.id));

    say("replicating the chain to the target");
    const rep = await timed(async () => {
      const job = await client.replicas.create({ source_disk_path: delta2, target_datastore_id: dst.id });
      return (await client.waitJob(job.id)).result as ReplicaWire;
    });
    const replica = rep.value;

    say("copying the flattened chain (qemu-img convert, fsynced, as the engine's full copies are)");
    const flatPath = path.join(dst.path, "flat.qcow2");
    const flat = await timed(() => fullCopy(delta2, flatPath));

    say("checking both copies against the source (qemu-img compare; not timed)");
    const same = async (p: string) =>
      run("qemu-img", ["compare", "-q", delta2, p]).then(
        () => true,
        () => false,
      );
    const replicaEqual = await same(replica.disk_path);
    const flatEqual = await same(flatPath);

    const deltasAllocated = (await allocatedBytes(delta1)) + (await allocatedBytes(delta2));
    const replicated = replica.last_run.bytes_copied;
    const result = {
      chain: { base_mib: o.baseMib, delta_mib: o.deltaMib, virtual_mib: virtualMib },
      seed_base: { bytes: seed.value.result ? (seed.value.result as ReplicaWire).copied_bytes : 0, seconds: seed.seconds },
      replication: {
        bytes: replicated,
        seconds: rep.seconds,
        layers_copied: replica.last_run.copied.length,
        layers_reused: replica.last_run.reused.length,
        equal_to_source: replicaEqual,
      },
      flattened_copy: { bytes: flat.value.bytes, seconds: flat.seconds, method: flat.value.method, equal_to_source: flatEqual },
      deltas_allocated_bytes: deltasAllocated,
      bytes_vs_deltas_allocated_percent: (100 * (replicated - deltasAllocated)) / deltasAllocated,
      bytes_ratio_flat_over_replication: flat.value.bytes / replicated,
      time_ratio_flat_over_replication: flat.seconds / rep.seconds,
    };

    if (o.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } else {
      const rows: [string, string, string][] = [
        ["", "bytes", "time"],
        [`replication (${result.replication.layers_copied} copied, ${result.replication.layers_reused} reused)`, mib(replicated), `${rep.seconds.toFixed(2)} s`],
        [`flattened copy (${flat.value.method})`, mib(flat.value.bytes), `${flat.seconds.toFixed(2)} s`],
        ["ratio flattened / replication", `${result.bytes_ratio_flat_over_replication.toFixed(2)}x`, `${result.time_ratio_flat_over_replication.toFixed(2)}x`],
      ];
      const w0 = Math.max(...rows.map((r) => r[0].length));
      const w1 = Math.max(...rows.map((r) => r[1].length));
      const lines = [
        `replicate a chain (${o.baseMib} MiB base, two ${o.deltaMib} MiB deltas) to a datastore holding the base`,
        ...rows.map((r) => `  ${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2].padStart(8)}`),
        `  deltas' allocated size ${mib(deltasAllocated)}; replication copied ${result.bytes_vs_deltas_allocated_percent >= 0 ? "+" : ""}${result.bytes_vs_deltas_allocated_percent.toFixed(2)}% of it`,
        `  both compare equal to the source: replica ${replicaEqual ? "yes" : "NO"}, flattened ${flatEqual ? "yes" : "NO"}`,
        `  (seeding the target with the base took ${seed.seconds.toFixed(2)} s, not counted above)`,
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    }
    if (!replicaEqual || !flatEqual) process.exitCode = 1;
  } finally {
    await engine.close();
    if (!o.keep && !o.dir) await fs.rm(dir, { recursive: true, force: true });
    else say(`files kept in ${dir}`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench/replicate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
