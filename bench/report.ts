/**
 * One benchmark report: runs every benchmark in bench/ one after the other (each as its own
 * process with --json, in a quick mode by default), measures the raw floors in the same run, and
 * writes bench/report.md and bench/report.json: each figure beside its target and its floor, as
 * ratios, with the machine's load average when each benchmark started and ended. Run after a
 * build (`npm run bench` does both):
 *
 *   node dist/bench/report.js [--full] [--only pool-vs-copy,instant-clone,...] [--out DIR]
 *
 * --full runs the benchmarks with their own defaults (and the fork's 1 GiB parent); quick mode
 * uses smaller sizes but keeps every count a target names (64 clones). A benchmark that fails is
 * reported as failed and the others still run.
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { resolveAccel } from "../engine/hypervisor";
import { PROJECT_ROOT } from "../engine/version";
import { measureFloors, type RawFloors } from "./floors";
import { BENCHES, lastJsonBlock, rateAll, renderReport, type BenchName, type BenchOutcome, type LoadSpan } from "./report-figures";

const run = promisify(execFile);

/** Arguments of each benchmark in quick mode; --full passes `full` instead. */
const ARGS: Record<BenchName, { quick: string[]; full: string[] }> = {
  "pool-vs-copy": { quick: ["--counts", "1,64", "--full-max", "1", "--virtual-mib", "512", "--data-mib", "128"], full: [] },
  replicate: { quick: ["--base-mib", "256", "--delta-mib", "32"], full: [] },
  "vm-fork": { quick: ["--forks", "3", "--data-mib", "64"], full: ["--big"] },
  "snapshot-consolidate": { quick: [], full: [] },
  "instant-clone": { quick: ["--counts", "1,64", "--compare-max", "16"], full: [] },
  migrate: { quick: ["--runs", "1"], full: [] },
};

const BENCH_TIMEOUT_MS = 60 * 60_000;

interface Options {
  full: boolean;
  only: BenchName[];
  out: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { full: false, only: [...BENCHES], out: path.join(PROJECT_ROOT, "bench") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--full") o.full = true;
    else if (a === "--only") {
      const names = (argv[++i] ?? "").split(",");
      const unknown = names.filter((n) => !(BENCHES as readonly string[]).includes(n));
      if (unknown.length) throw new Error(`--only: unknown benchmark ${unknown.join(", ")} (known: ${BENCHES.join(", ")})`);
      o.only = names as BenchName[];
    } else if (a === "--out") o.out = path.resolve(argv[++i] ?? "");
    else throw new Error(`unknown option ${a} (use --full, --only NAME,..., --out DIR)`);
  }
  return o;
}

async function loadAverage(): Promise<[number, number, number]> {
  const [a, b, c] = (await fs.readFile("/proc/loadavg", "utf8")).split(" ").map(Number);
  return [a, b, c];
}

async function runBench(bench: BenchName, args: string[]): Promise<BenchOutcome> {
  const start = await loadAverage();
  const t0 = performance.now();
  let json: unknown = null;
  let error: string | null = null;
  try {
    const { stdout } = await run(process.execPath, [path.join(__dirname, `${bench}.js`), ...args, "--json"], { maxBuffer: 64 * 1024 * 1024, timeout: BENCH_TIMEOUT_MS, killSignal: "SIGINT" });
    json = lastJsonBlock(stdout);
  } catch (err) {
    const e = err as Error & { stderr?: string };
    error = `${e.message.split("\n")[0]}${e.stderr ? `: ${e.stderr.trim().split("\n").slice(-3).join(" ")}` : ""}`;
  }
  return { bench, args, seconds: (performance.now() - t0) / 1000, load: { start, end: await loadAverage() }, json, error };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  const accel = (await resolveAccel("auto")).accel;
  process.stderr.write(`raw floors (${accel})…\n`);
  const floorsStart = await loadAverage();
  let floors: RawFloors | null = null;
  let floorsError: string | null = null;
  try {
    floors = await measureFloors(accel);
  } catch (err) {
    floorsError = err instanceof Error ? err.message : String(err);
  }
  const floorsLoad: LoadSpan = { start: floorsStart, end: await loadAverage() };
  const outcomes: BenchOutcome[] = [];
  for (const bench of o.only) {
    const args = o.full ? ARGS[bench].full : ARGS[bench].quick;
    process.stderr.write(`${bench} ${args.join(" ")} (load ${(await loadAverage())[0]})…\n`);
    const outcome = await runBench(bench, args);
    outcomes.push(outcome);
    process.stderr.write(`  ${outcome.error === null ? "done" : `FAILED: ${outcome.error}`} in ${outcome.seconds.toFixed(0)} s\n`);
  }
  const meta = { startedAt, host: os.hostname(), cpus: os.cpus().length, quick: !o.full, accel, floors, floorsLoad, floorsError, outcomes };
  await fs.mkdir(o.out, { recursive: true });
  const md = renderReport(meta);
  await fs.writeFile(path.join(o.out, "report.md"), md);
  await fs.writeFile(path.join(o.out, "report.json"), `${JSON.stringify({ ...meta, figures: rateAll(outcomes, floors) }, null, 2)}\n`);
  process.stdout.write(md);
  process.stderr.write(`wrote ${path.join(o.out, "report.md")} and report.json\n`);
  if (outcomes.some((x) => x.error !== null)) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench report failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
