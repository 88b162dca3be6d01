import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ClonefleetClient, JobWire } from "../../../engine/client";
import { defaultParentTmpfsDir, ramFolderOf } from "../../../engine/ops";
import { makeDataImage, waitPoolsSettled } from "../../support/clones";
import { spawnEngine, type EngineProcess } from "../../support/engine-process";
import { killAllVms } from "../../support/vms";
import { checkInventory, jobsLeftRunning, runningVmsOf, snapshotBeforeKill, type Violation } from "./invariants";
import { killPids, qemuProcessesUnder } from "./processes";
import { SeededRandom } from "./random";
import { scenariosFor, type Scenario } from "./scenarios";
import { DISK_SIZE_MB, TEMPLATE_DATA_MB, TEMPLATE_MARK, type TrialWorld } from "./world";

/** How a campaign runs (see `npm run torture -- --help`). */
export interface CampaignOptions {
  trials: number;
  /** Kinds to run (all when empty); trials cycle through them. */
  kinds: string[];
  seed: number;
  /** Keep the folders of trials that found a violation (and say where). */
  keep: boolean;
  /** Cap on the engine's background copies, so kills land mid-copy (default 8M). */
  copyRateLimit?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** How the job ended after the restart. */
export type TrialOutcome = "completed" | "rolled back" | "failed" | "unfinished";

/** What one trial did and found. */
export interface TrialResult {
  index: number;
  kind: string;
  delayMs: number;
  /** The job (or, for a pool fill, a copy) was running when the SIGKILL came. */
  midJob: boolean;
  /** The job's state and progress message at the kill. */
  atKill: string;
  outcome: TrialOutcome;
  violations: Violation[];
  /** How long the job ran when it ended before the kill (to tune the kinds' expected spans). */
  jobMs?: number;
  /** How long the restarted engine took from spawn to listening (it recovers interrupted jobs first); also set when it never listened. */
  restartMs?: number;
  /** The trial's folder when kept for inspection. */
  keptDir: string | null;
  durationMs: number;
}

/** Every trial of a campaign, with the seed that reproduces its choices. */
export interface CampaignReport {
  seed: number;
  trials: TrialResult[];
}

const JOB_END_TIMEOUT_MS = 180_000;
const cleanups = new Set<() => Promise<void>>();

/** Stops what running trials started (engines, QEMU, their folders); for a signal handler or a test cut short. */
export async function abortCampaign(): Promise<void> {
  // Newest first: a trial's engines and VMs go before the campaign's folder.
  for (const c of [...cleanups].reverse()) await c();
}

/**
 * Runs `trials` trials, cycling through the kinds: each sets up what its kind needs on a fresh
 * engine (a separate process from dist/), submits the work, SIGKILLs the engine (its pid only:
 * VMs are detached and must survive) after a random delay within the work's expected span,
 * restarts it on the same state folder and checks the invariants. Everything lives under one
 * temp folder, removed at the end (trials with violations stay with `keep`).
 */
export async function runCampaign(opts: CampaignOptions): Promise<CampaignReport> {
  const scenarios = scenariosFor(opts.kinds);
  const log = opts.log ?? (() => undefined);
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "cf-torture-"));
  const trials: TrialResult[] = [];
  const removeRoot = () => fs.rm(root, { recursive: true, force: true });
  cleanups.add(removeRoot);
  try {
    await makeDataImage(path.join(root, "source.raw"), DISK_SIZE_MB, TEMPLATE_DATA_MB, TEMPLATE_MARK.pattern);
    for (let i = 0; i < opts.trials; i++) {
      const scenario = scenarios[i % scenarios.length];
      const r = await runTrial(root, i + 1, scenario, new SeededRandom(opts.seed * 1_000_003 + i), opts);
      trials.push(r);
      log(describeTrial(r));
    }
  } finally {
    if (opts.keep && trials.some((t) => t.violations.length > 0)) log(`kept ${root} (trials with violations)`);
    else await removeRoot();
    cleanups.delete(removeRoot);
  }
  return { seed: opts.seed, trials };
}

async function runTrial(root: string, index: number, scenario: Scenario, rng: SeededRandom, opts: CampaignOptions): Promise<TrialResult> {
  const started = Date.now();
  const dir = path.join(root, `trial-${index}-${scenario.kind}`);
  const stateDir = path.join(dir, "state");
  await fs.mkdir(dir);
  const engineArgs = ["--copy-rate-limit", opts.copyRateLimit ?? "8M", "--heartbeat-interval-ms", "250"];
  const violations: Violation[] = [];
  const result: TrialResult = { index, kind: scenario.kind, delayMs: 0, midJob: false, atKill: "not killed", outcome: "unfinished", violations, keptDir: null, durationMs: 0 };
  const engines: (EngineProcess | null)[] = [];
  const logs: string[] = [];
  const cleanup = () => cleanupTrial(dir, stateDir, engines);
  cleanups.add(cleanup);
  try {
    const a = await spawnEngine(stateDir, engineArgs);
    engines.push(a);
    const b = scenario.twoHosts ? await spawnEngine(stateDir, [...engineArgs, "--host-name", "b"]) : null;
    engines.push(b);
    const w = await makeWorld(dir, stateDir, rng, a, b);
    await scenario.setup(w);

    const runningVms = await runningVmsOf(w.a.client);
    const submitted = await scenario.submit(w);
    result.delayMs = rng.int(0, scenario.expectedMs);
    await new Promise((r) => setTimeout(r, result.delayMs));
    const poolAtKill = submitted.poolId ? await w.a.client.pools.get(submitted.poolId) : null;
    const atKill = await snapshotBeforeKill(w.a.client, submitted.jobId, runningVms);
    await w.a.kill();
    logs.push(w.a.stderr());
    if (atKill.job) {
      result.midJob = atKill.job.state === "running";
      result.atKill = `${atKill.job.state}${atKill.job.progress.message ? `: ${atKill.job.progress.message}` : ""}`;
      if (atKill.job.started_at && atKill.job.finished_at) result.jobMs = Date.parse(atKill.job.finished_at) - Date.parse(atKill.job.started_at);
    } else if (poolAtKill) {
      result.midJob = poolAtKill.filling > 0;
      result.atKill = `pool ${poolAtKill.ready}/${poolAtKill.size} ready, ${poolAtKill.filling} filling`;
    }

    const restarting = Date.now();
    try {
      // At info level the restart logs each recovery step, so one that never listens shows where it stopped.
      w.a = await spawnEngine(stateDir, engineArgs, { CLONEFLEET_LOG_LEVEL: "info" });
    } finally {
      result.restartMs = Date.now() - restarting;
    }
    engines[0] = w.a;
    violations.push(...(await jobsLeftRunning(w.a.client, atKill)));
    const finalJob = submitted.jobId ? await jobEnd(w.a.client, submitted.jobId) : null;
    if (submitted.jobId) result.outcome = outcomeOf(finalJob, violations);
    const settled = await waitPoolsSettled(w.a.client, JOB_END_TIMEOUT_MS).then(() => true, () => false);
    if (!settled) violations.push({ check: "pool did not refill", detail: JSON.stringify((await w.a.client.pools.list()).map((p) => ({ id: p.id, ready: p.ready, size: p.size, state: p.state, last_error: p.last_error }))) });
    if (submitted.poolId) result.outcome = settled ? "completed" : "unfinished";
    violations.push(...(await checkInventory(w, atKill, finalJob)));
    if (violations.length > 0 && opts.keep) {
      logs.push(w.a.stderr());
      await fs.writeFile(path.join(dir, "recovery.json"), JSON.stringify((await w.a.client.engine()).last_recovery, null, 2));
    }
  } catch (err) {
    violations.push({ check: "trial error", detail: err instanceof Error ? err.message : String(err) });
  } finally {
    if (violations.length > 0 && opts.keep) {
      for (const e of engines) if (e) logs.push(e.stderr());
      await fs.writeFile(path.join(dir, "engine.log"), logs.join("\n---\n")).catch(() => undefined);
      await fs.writeFile(path.join(dir, "violations.json"), JSON.stringify({ ...result, violations }, null, 2)).catch(() => undefined);
    }
    await cleanup();
    cleanups.delete(cleanup);
    if (violations.length > 0 && opts.keep) result.keptDir = dir;
    else await fs.rm(dir, { recursive: true, force: true });
  }
  result.durationMs = Date.now() - started;
  return result;
}

async function makeWorld(dir: string, stateDir: string, rng: SeededRandom, a: EngineProcess, b: EngineProcess | null): Promise<TrialWorld> {
  const datastore = async (name: string) => {
    const p = path.join(dir, name);
    await fs.mkdir(p);
    return { id: (await a.client.datastores.create({ name, path: p })).id, path: p };
  };
  const ds1 = await datastore("ds1");
  const ds2 = await datastore("ds2");
  const job = await a.client.templates.import({ name: "base", datastore_id: ds1.id, source_path: path.join(path.dirname(dir), "source.raw"), memory_mb: 64, vcpus: 1 });
  const templateId = ((await a.client.waitJob(job.id, { timeoutMs: 120_000 })).result as { id: string }).id;
  return { dir, stateDir, rng, a, b, ds1, ds2, templateId, marks: new Map(), stoppedByJob: new Set(), backupTarget: null, removal: { ids: new Set(), files: [] }, userFiles: [], nextPattern: 0x21, staged: {} };
}

async function jobEnd(client: ClonefleetClient, id: string): Promise<JobWire | null> {
  const deadline = Date.now() + JOB_END_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const j = await client.jobs.waitOnce(id, 5);
    if (j.state === "succeeded" || j.state === "failed" || j.state === "cancelled") return j;
  }
  return null;
}

function outcomeOf(job: JobWire | null, violations: Violation[]): TrialOutcome {
  if (!job) {
    violations.push({ check: "job never ended", detail: `not ended ${JOB_END_TIMEOUT_MS / 1000} s after the restart` });
    return "unfinished";
  }
  if (job.state === "succeeded") return "completed";
  if (job.state === "failed" && job.error?.code === "CF_INTERRUPTED") return "rolled back";
  violations.push({ check: "job failed", detail: `${job.kind} ${job.id} ended ${job.state}: ${job.error?.code} ${job.error?.message}` });
  return "failed";
}

/** Stops the trial's engines, kills every QEMU its state folders or files name, and removes the RAM files it left on the tmpfs. */
async function cleanupTrial(dir: string, stateDir: string, engines: (EngineProcess | null)[]): Promise<void> {
  for (const e of engines) {
    if (!e) continue;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 15_000)));
    const stopped = await Promise.race([e.stop().then(() => true), late]);
    clearTimeout(timer);
    if (!stopped) await e.kill();
  }
  const roots = [path.join(stateDir, "vms"), path.join(stateDir, "hosts", "b", "vms")];
  for (const r of roots) await killAllVms(r);
  await killPids((await qemuProcessesUnder(dir)).map((p) => p.pid));
  for (const r of roots) await fs.rm(ramFolderOf(r), { recursive: true, force: true });
  await fs.rm(defaultParentTmpfsDir(stateDir), { recursive: true, force: true });
}

/** A restart slower than this is worth a line: recovery at start should take a moment. */
const SLOW_RESTART_MS = 5000;

const slowRestart = (r: TrialResult): string => (r.restartMs !== undefined && r.restartMs > SLOW_RESTART_MS ? `, restart took ${(r.restartMs / 1000).toFixed(1)} s` : "");

function describeTrial(r: TrialResult): string {
  const head = `#${r.index} ${r.kind}: kill after ${r.delayMs} ms (${r.atKill}${r.jobMs !== undefined ? ` in ${r.jobMs} ms` : ""}), ${r.midJob ? "mid-job" : "not mid-job"}, ${r.outcome}${slowRestart(r)}, ${(r.durationMs / 1000).toFixed(1)} s`;
  return r.violations.length === 0 ? head : [head, ...r.violations.map((v) => `    VIOLATION ${v.check}: ${v.detail}`)].join("\n");
}

/** The summary table (per kind and in total) and every violation with its trial. */
export function formatReport(report: CampaignReport): string {
  const kinds = [...new Set(report.trials.map((t) => t.kind))];
  const row = (name: string, ts: TrialResult[]) =>
    [
      name.padEnd(20),
      String(ts.length).padStart(6),
      String(ts.filter((t) => t.midJob).length).padStart(8),
      String(ts.filter((t) => t.outcome === "rolled back").length).padStart(11),
      String(ts.filter((t) => t.outcome === "completed").length).padStart(10),
      String(ts.reduce((n, t) => n + t.violations.length, 0)).padStart(11),
    ].join(" ");
  const lines = [
    `fault campaign, seed ${report.seed}`,
    ["kind".padEnd(20), "trials".padStart(6), "mid-job".padStart(8), "rolled back".padStart(11), "completed".padStart(10), "violations".padStart(11)].join(" "),
    ...kinds.map((k) => row(k, report.trials.filter((t) => t.kind === k))),
    row("total", report.trials),
  ];
  const slow = report.trials.filter((t) => slowRestart(t) !== "");
  if (slow.length > 0) {
    lines.push("", `restarts over ${SLOW_RESTART_MS / 1000} s:`);
    for (const t of slow) lines.push(`#${t.index} ${t.kind}: killed after ${t.delayMs} ms (${t.atKill})${slowRestart(t)}`);
  }
  const bad = report.trials.filter((t) => t.violations.length > 0);
  if (bad.length > 0) {
    lines.push("", "violations:");
    for (const t of bad) {
      lines.push(`#${t.index} ${t.kind}: killed after ${t.delayMs} ms (${t.atKill}), outcome ${t.outcome}${t.keptDir ? `, kept in ${t.keptDir}` : ""}`);
      for (const v of t.violations) lines.push(`    ${v.check}: ${v.detail}`);
    }
  }
  return lines.join("\n");
}
