/**
 * Benchmark of disk pools (S1): time to provision the disks of 1, 16 and 64 clones of a
 * template (2 GiB virtual, 1 GiB of data) through the engine's API, three ways in the same run:
 * from ready pools (a rename each), by full copy, and as linked clones; with the ratio full/pool
 * and the bytes each way uses on the datastore. Run after a build:
 *
 *   node dist/bench/pool-vs-copy.js [--counts 1,16,64] [--full-max 16] [--virtual-mib 2048]
 *                                   [--data-mib 1024] [--dir DIR] [--json] [--keep]
 *                                   [--inventories sqlite,postgres]
 *
 * Full copies of counts above --full-max are estimated from the largest measured count (marked
 * "est."), which keeps the default run near two minutes and under 70 GiB of disk; pass
 * --full-max 64 to measure them too. The pool is filled before each timed request, with the
 * refill paused while it runs; fill time is reported but is not on the request path. Times are
 * wall clock from the POST to the job's end as a client sees it, bookkeeping included.
 * `--inventories sqlite,postgres` runs it all once per inventory (PostgreSQL: a throwaway
 * cluster on loopback started here) and compares the pool hand-outs (target: 64 clones from
 * pools under 0.5 s on PostgreSQL too, within 2x of SQLite).
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { startEngine } from "../engine/api/engine";
import { ClonefleetClient, type FleetApplyWire, type TemplateWire } from "../engine/client";
import { imageInfo, reflinkSupported } from "../engine/disk";
import { startPostgresCluster, type PostgresCluster } from "../scripts/cluster/postgres";

const run = promisify(execFile);
const MiB = 1024 * 1024;

interface Options {
  counts: number[];
  fullMax: number;
  virtualMib: number;
  dataMib: number;
  dir: string | null;
  json: boolean;
  keep: boolean;
  inventories: ("sqlite" | "postgres")[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { counts: [1, 16, 64], fullMax: 16, virtualMib: 2048, dataMib: 1024, dir: null, json: false, keep: false, inventories: ["sqlite"] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (v: string | undefined) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`${a}: expected a positive integer, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === "--counts") o.counts = (argv[++i] ?? "").split(",").map((v) => num(v));
    else if (a === "--full-max") o.fullMax = num(argv[++i]);
    else if (a === "--virtual-mib") o.virtualMib = num(argv[++i]);
    else if (a === "--data-mib") o.dataMib = num(argv[++i]);
    else if (a === "--dir") o.dir = path.resolve(argv[++i] ?? "");
    else if (a === "--json") o.json = true;
    else if (a === "--keep") o.keep = true;
    else if (a === "--inventories") {
      const list = (argv[++i] ?? "").split(",");
      if (list.length === 0 || list.some((v) => v !== "sqlite" && v !== "postgres")) throw new Error(`--inventories: expected sqlite, postgres or both (comma-separated), got ${JSON.stringify(argv[i])}`);
      o.inventories = list as Options["inventories"];
    } else throw new Error(`unknown option ${a} (use --counts A,B,C, --full-max N, --virtual-mib N, --data-mib N, --dir DIR, --json, --keep, --inventories sqlite,postgres)`);
  }
  if (o.dataMib > o.virtualMib) throw new Error("--data-mib must not exceed --virtual-mib");
  return o;
}

/** One measured (or estimated) way of provisioning `count` clones. */
interface Row {
  count: number;
  method: "pool" | "full" | "linked";
  seconds: number;
  estimated: boolean;
  /** Time the engine spent making the disks (renames, copies or overlays), inside `seconds`. */
  provisionSeconds: number | null;
  /** Allocated bytes of the clones' disk files. */
  diskBytes: number | null;
  /** How much the datastore's free space shrank during the request. */
  writtenBytes: number | null;
  chainDepth: number | null;
  provisionedBy: Record<string, number>;
}

function fmtSeconds(s: number): string {
  if (s < 0.001) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(1)} ms`;
  return `${s.toFixed(2)} s`;
}

function fmtBytes(n: number | null): string {
  if (n === null) return "-";
  if (n < MiB) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 * MiB) return `${(n / MiB).toFixed(1)} MiB`;
  return `${(n / 1024 / MiB).toFixed(2)} GiB`;
}

async function freeBytes(dir: string): Promise<number> {
  const st = await fs.statfs(dir);
  return st.bavail * st.bsize;
}

async function allocated(file: string): Promise<number> {
  return (await fs.stat(file)).blocks * 512;
}

/** Writes `dataMib` of a pattern from offset 0 in 64 MiB requests (qemu-io buffers a whole request). */
async function writeData(file: string, dataMib: number): Promise<void> {
  const cmds: string[] = [];
  for (let at = 0; at < dataMib; at += 64) cmds.push("-c", `write -P 0x6b ${at}M ${Math.min(64, dataMib - at)}M`);
  await run("qemu-io", ["-f", "qcow2", ...cmds, file], { maxBuffer: 16 * MiB });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = o.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "cf-bench-pool-")));
  await fs.mkdir(dir, { recursive: true });
  const say = (line: string) => {
    if (!o.json) process.stderr.write(`${line}\n`);
  };
  const maxCount = Math.max(...o.counts);
  // Peak: the largest pool (its copies become the clones' disks), the source and the template.
  const needBytes = (maxCount * 1.02 + 2) * o.dataMib * MiB + 512 * MiB;
  const free = await freeBytes(dir);
  if (free < needBytes) {
    throw new Error(`${dir} has ${fmtBytes(free)} free; this run needs about ${fmtBytes(needBytes)}. Use --dir elsewhere, or smaller --counts / --data-mib`);
  }
  let cluster: PostgresCluster | null = null;
  const pooled: Record<string, Row[]> = {};
  try {
    for (const inventory of o.inventories) {
      let url: string | undefined;
      if (inventory === "postgres") {
        cluster ??= await startPostgresCluster();
        url = await cluster.createDatabase("bench_pools");
      }
      say(`\n== inventory: ${inventory}`);
      const runDir = path.join(dir, inventory);
      await fs.mkdir(runDir, { recursive: true });
      const rows = await measure(o, runDir, say, url);
      pooled[inventory] = rows.filter((r) => r.method === "pool");
      if (!o.keep) await fs.rm(runDir, { recursive: true, force: true });
    }
  } finally {
    await cluster?.stop();
    if (!o.keep && !o.dir) await fs.rm(dir, { recursive: true, force: true });
  }
  if (pooled.sqlite && pooled.postgres) {
    const lines = o.counts.map((count) => {
      const a = pooled.sqlite.find((r) => r.count === count)!;
      const b = pooled.postgres.find((r) => r.count === count)!;
      return `${String(count).padStart(3)} clones from pools: SQLite ${fmtSeconds(a.seconds)}, PostgreSQL ${fmtSeconds(b.seconds)} (PostgreSQL/SQLite ${(b.seconds / a.seconds).toFixed(2)}×)`;
    });
    const out = ["", "inventory comparison (target: PostgreSQL within 2× of SQLite; 64 from pools < 0.5 s on both)", ...lines, ""];
    if (o.json) process.stdout.write(`${JSON.stringify({ inventories: pooled })}\n`);
    else process.stdout.write(out.join("\n"));
  }
}

/** The whole measurement on one engine whose inventory is `inventory` (a PostgreSQL URL) or SQLite in `dir`; answers its rows. */
async function measure(o: Options, dir: string, say: (line: string) => void, inventory: string | undefined): Promise<Row[]> {
  // The refill is paused by hand below, so it only ever runs while a pool is being filled.
  const engine = await startEngine({ stateDir: path.join(dir, "state"), inventory, host: "127.0.0.1", port: 0, log: pino({ level: "silent" }) });
  const client = new ClonefleetClient({ endpoint: engine.url, token: engine.token });
  const rows: Row[] = [];
  try {
    const dsPath = path.join(dir, "ds");
    const ds = await client.datastores.create({ name: "bench", path: dsPath });
    const reflink = await reflinkSupported(dsPath);
    say(`datastore ${dsPath} (${reflink ? "reflink copies" : "no reflink: full copies write every byte"})`);

    const src = path.join(dir, "source.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", src, `${o.virtualMib}M`]);
    say(`writing ${o.dataMib} MiB of data into a ${o.virtualMib} MiB image with qemu-io…`);
    await writeData(src, o.dataMib);
    const importJob = await client.templates.import({ name: "bench", datastore_id: ds.id, source_path: src });
    const tpl = (await client.waitJob(importJob.id)).result as TemplateWire;
    await fs.rm(src);
    const tplBytes = await allocated(tpl.disk_path);
    say(`template ${tpl.id}: ${fmtBytes(tpl.virtual_size_bytes)} virtual, ${fmtBytes(tplBytes)} allocated`);

    await engine.refill.close();
    let pool = await client.pools.create({ template_id: tpl.id, datastore_id: ds.id, size: 0 });
    const fillSeconds: Record<number, number> = {};

    const timedFleet = async (count: number, mode: "pool" | "full" | "linked"): Promise<Row> => {
      const before = await freeBytes(dsPath);
      const started = process.hrtime.bigint();
      const job = await client.fleets.create({ template_id: tpl.id, size: count, datastore_ids: [ds.id], name_prefix: `${mode}-${count}`, clone_mode: mode });
      const done = await client.waitJob(job.id, { timeoutMs: 60 * 60_000 });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const result = done.result as FleetApplyWire;
      const after = await freeBytes(dsPath);
      const disks = result.added.map((a) => a.disk_path);
      const depths = new Set<number>();
      let diskBytes = 0;
      for (let i = 0; i < disks.length; i += 16) {
        const batch = disks.slice(i, i + 16);
        const infos = await Promise.all(batch.map((d) => imageInfo(d)));
        // Depth counted from the files themselves, not from the records.
        for (const info of infos) depths.add(info.backingPath === null ? 1 : 2);
        for (const b of await Promise.all(batch.map(allocated))) diskBytes += b;
      }
      const provisionedBy: Record<string, number> = {};
      for (const a of result.added) provisionedBy[a.provisioned_by] = (provisionedBy[a.provisioned_by] ?? 0) + 1;
      await client.fleets.delete(result.fleet.id);
      return {
        count,
        method: mode,
        seconds,
        estimated: false,
        provisionSeconds: result.provision_ms / 1000,
        diskBytes,
        writtenBytes: Math.max(0, before - after),
        chainDepth: depths.size === 1 ? [...depths][0] : -1,
        provisionedBy,
      };
    };

    for (const count of o.counts) {
      say(`\n${count} clone${count === 1 ? "" : "s"}`);
      pool = await client.pools.resize(pool.id, count);
      const fillStarted = process.hrtime.bigint();
      engine.refill.start();
      await client.waitPoolReady(pool.id, { timeoutMs: 60 * 60_000 });
      await engine.refill.close();
      fillSeconds[count] = Number(process.hrtime.bigint() - fillStarted) / 1e9;
      say(`  pool filled with ${count} copies in ${fmtSeconds(fillSeconds[count])} (background work, before the request)`);

      const pooled = await timedFleet(count, "pool");
      rows.push(pooled);
      say(`  from ready pools: ${fmtSeconds(pooled.seconds)} (${JSON.stringify(pooled.provisionedBy)})`);
      await client.pools.resize(pool.id, 0);

      if (count <= o.fullMax) {
        const full = await timedFleet(count, "full");
        rows.push(full);
        say(`  full copies:      ${fmtSeconds(full.seconds)}`);
      } else {
        const basis = rows.filter((r) => r.method === "full" && !r.estimated).sort((a, b) => b.count - a.count)[0];
        if (basis) {
          rows.push({
            count,
            method: "full",
            seconds: (basis.seconds / basis.count) * count,
            estimated: true,
            provisionSeconds: null,
            diskBytes: basis.diskBytes === null ? null : (basis.diskBytes / basis.count) * count,
            writtenBytes: null,
            chainDepth: 1,
            provisionedBy: { copy: count },
          });
          say(`  full copies:      ~${fmtSeconds((basis.seconds / basis.count) * count)} (estimated from ${basis.count}; --full-max ${count} measures it)`);
        }
      }
      const linked = await timedFleet(count, "linked");
      rows.push(linked);
      say(`  linked clones:    ${fmtSeconds(linked.seconds)}`);
    }
    await client.pools.delete(pool.id);

    const table: string[][] = [["clones", "method", "time (API)", "per clone", "making disks", "disk bytes", "written now", "depth", "provisioned by"]];
    for (const r of rows) {
      table.push([
        String(r.count),
        r.method,
        `${r.estimated ? "~" : ""}${fmtSeconds(r.seconds)}${r.estimated ? " est." : ""}`,
        fmtSeconds(r.seconds / r.count),
        r.provisionSeconds === null ? "-" : fmtSeconds(r.provisionSeconds),
        fmtBytes(r.diskBytes),
        fmtBytes(r.writtenBytes),
        r.chainDepth === null ? "-" : String(r.chainDepth),
        Object.entries(r.provisionedBy)
          .map(([k, v]) => `${v} ${k}`)
          .join(", "),
      ]);
    }
    const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
    const ratios = o.counts.map((count) => {
      const pool = rows.find((r) => r.count === count && r.method === "pool")!;
      const full = rows.find((r) => r.count === count && r.method === "full");
      const linked = rows.find((r) => r.count === count && r.method === "linked")!;
      return {
        count,
        fullOverPool: full ? full.seconds / pool.seconds : null,
        fullEstimated: full?.estimated ?? false,
        linkedOverPool: linked.seconds / pool.seconds,
        poolUnderHalfSecond: pool.seconds < 0.5,
      };
    });
    if (o.json) {
      process.stdout.write(`${JSON.stringify({ template: { virtualBytes: tpl.virtual_size_bytes, allocatedBytes: tplBytes }, reflink, fillSeconds, rows, ratios }, null, 2)}\n`);
    } else {
      const out = [
        "",
        `pool vs copy: template ${fmtBytes(tpl.virtual_size_bytes)} virtual, ${fmtBytes(tplBytes)} of data; datastore ${reflink ? "with" : "without"} reflink`,
        "",
        ...table.map((row) => row.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()),
        "",
        ...ratios.map(
          (r) =>
            `${String(r.count).padStart(3)} clones: full/pool ${r.fullOverPool === null ? "-" : `${r.fullOverPool.toFixed(0)}×${r.fullEstimated ? " (full est.)" : ""}`}, ` +
            `linked/pool ${r.linkedOverPool.toFixed(1)}×`,
        ),
        "",
        `floor (MACHINE-NOTES): a full copy ~0.85 s per GiB once durable, a rename 7 µs. Target: 64 clones from pools < 0.5 s, ≥100× faster than full copies.`,
        "",
      ];
      process.stdout.write(out.join("\n"));
    }
    return rows;
  } finally {
    await engine.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`pool-vs-copy failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
