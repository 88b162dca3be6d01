/**
 * The benchmark report's pure part: from each benchmark's JSON output (and the raw floors of
 * the same run) to figures, each with its target from the issues and its floor, then to
 * bench/report.md. No I/O here, so the shaping and the target checks are unit-tested.
 */
import type { RawFloors } from "./floors";

export const BENCHES = ["pool-vs-copy", "replicate", "vm-fork", "snapshot-consolidate", "instant-clone", "migrate"] as const;
export type BenchName = (typeof BENCHES)[number];

/** A bound a figure must stay under (max) or reach (min), and where it was set. */
export interface Target {
  kind: "max" | "min";
  value: number;
  source: string;
}

export interface Figure {
  bench: BenchName;
  what: string;
  /** null when the run did not produce it (the note says why). */
  value: number | null;
  unit: "ms" | "MiB" | "x" | "MiB/s";
  target: Target | null;
  /** The raw QEMU / qemu-img / kernel figure for the same work in the same run, in the same unit. */
  floor: { what: string; value: number } | null;
  note?: string;
}

/** The machine's load average (1, 5, 15 minutes) when a benchmark started and when it ended. */
export interface LoadSpan {
  start: [number, number, number];
  end: [number, number, number];
}

export interface BenchOutcome {
  bench: BenchName;
  args: string[];
  seconds: number;
  load: LoadSpan;
  /** The benchmark's --json output, or null with the error when it failed. */
  json: unknown;
  error: string | null;
}

export interface RatedFigure extends Figure {
  /** value / target value: at most 1 for a met max target, at least 1 for a met min target. */
  overTarget: number | null;
  met: boolean | null;
  overFloor: number | null;
  load: LoadSpan;
}

const MiB = 1024 * 1024;

const max = (value: number, source: string): Target => ({ kind: "max", value, source });
const min = (value: number, source: string): Target => ({ kind: "min", value, source });

/** Reads `obj.a.b.c` as a finite number, or null. */
function num(obj: unknown, ...keys: (string | number)[]): number | null {
  let cur: unknown = obj;
  for (const k of keys) {
    if (cur === null || typeof cur !== "object") return null;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return typeof cur === "number" && Number.isFinite(cur) ? cur : null;
}

function rows(obj: unknown, key: string): Record<string, unknown>[] {
  const r = obj !== null && typeof obj === "object" ? (obj as Record<string, unknown>)[key] : undefined;
  return Array.isArray(r) ? (r as Record<string, unknown>[]) : [];
}

function poolFigures(j: unknown, floors: RawFloors | null): Figure[] {
  const all = rows(j, "rows");
  const largest = Math.max(0, ...all.filter((r) => r.method === "pool").map((r) => r.count as number));
  const pick = (method: string) => all.find((r) => r.count === largest && r.method === method);
  const pool = pick("pool");
  const full = pick("full");
  const poolMs = num(pool, "seconds");
  const fullMs = num(full, "seconds");
  return [
    {
      bench: "pool-vs-copy",
      what: `disks of ${largest} clones from ready pools, through the API`,
      value: poolMs === null ? null : poolMs * 1000,
      unit: "ms",
      target: largest === 64 ? max(500, "issue 4") : null,
      floor: floors ? { what: "64 renames (fs.rename)", value: floors.rename64Ms } : null,
    },
    {
      bench: "pool-vs-copy",
      what: `full copies / pools, ${largest} clones${full?.estimated ? " (full copies estimated from a smaller count)" : ""}`,
      value: poolMs === null || fullMs === null ? null : fullMs / poolMs,
      unit: "x",
      target: min(100, "issue 4"),
      floor: null,
    },
  ];
}

function replicateFigures(j: unknown): Figure[] {
  const bytes = num(j, "replication", "bytes");
  const deltas = num(j, "deltas_allocated_bytes");
  const seconds = num(j, "replication", "seconds");
  const flatSeconds = num(j, "flattened_copy", "seconds");
  return [
    {
      bench: "replicate",
      what: "bytes copied by a chain replication (MiB), floor: the deltas' allocated size",
      value: bytes === null ? null : bytes / MiB,
      unit: "MiB",
      target: deltas === null ? null : max((deltas * 1.01) / MiB, "issue 8: ≤ 1% over the deltas"),
      floor: deltas === null ? null : { what: "deltas' allocated size", value: deltas / MiB },
    },
    {
      bench: "replicate",
      what: "flattened copy bytes / replication bytes",
      value: num(j, "bytes_ratio_flat_over_replication"),
      unit: "x",
      target: min(10, "issue 8"),
      floor: null,
      note: "capped near (base + deltas) / deltas by the chain's sizes: unreachable with small bases",
    },
    {
      bench: "replicate",
      what: "replication time, floor: qemu-img convert of the flattened chain",
      value: seconds === null ? null : seconds * 1000,
      unit: "ms",
      target: null,
      floor: flatSeconds === null ? null : { what: "qemu-img convert (flattened, fsynced)", value: flatSeconds * 1000 },
    },
  ];
}

function forkFigures(j: unknown, floors: RawFloors | null): Figure[] {
  const out: Figure[] = [];
  for (const r of rows(j, "stun")) {
    const mem = num(r, "memoryMb");
    const small = mem !== null && mem <= 256;
    out.push(
      {
        bench: "vm-fork",
        what: `${mem} MiB parent: stun (copied delta, median)`,
        value: num(r, "copiedDelta", "stunMsMedian"),
        unit: "ms",
        target: small ? max(150, "issues 5, 18") : null,
        floor: num(r, "plainFullSave", "raisedBandwidthStunMs") === null ? null : { what: "stun of a full state save, raised bandwidth", value: num(r, "plainFullSave", "raisedBandwidthStunMs")! },
      },
      {
        bench: "vm-fork",
        what: `${mem} MiB parent: child running after the request (median)`,
        value: num(r, "copiedDelta", "jobMsMedian"),
        unit: "ms",
        target: mem === null ? null : small ? max(1000, "issue 18, at load average 4") : mem <= 1024 ? max(3000, "issue 18") : null,
        floor: floors && small ? { what: "QEMU start to QMP + 256 MiB tmpfs copy", value: floors.qemuStartMs + floors.tmpfsCopy256MiBMs } : null,
      },
    );
  }
  const warm = num(j, "read", "warm", "gen10OverGen1");
  out.push({
    bench: "vm-fork",
    what: "10th-generation child's disk read / 1st generation's (page cache warm)",
    value: warm,
    unit: "x",
    target: min(0.9, "issue 5: within 10%"),
    floor: null,
  });
  return out;
}

function snapshotFigures(j: unknown): Figure[] {
  const out: Figure[] = [];
  for (const r of rows(j, "rows")) {
    const d = num(r, "deltaMib");
    const offlineMs = num(r, "offlineMs");
    out.push(
      {
        bench: "snapshot-consolidate",
        what: `${d} MiB delta: live consolidation`,
        value: num(r, "liveMs"),
        unit: "ms",
        target: null,
        floor: offlineMs === null ? null : { what: "offline qemu-img commit", value: offlineMs },
      },
      {
        bench: "snapshot-consolidate",
        what: `${d} MiB delta: pivot (guest-visible pause)`,
        value: num(r, "pivotMs"),
        unit: "ms",
        target: max(20, "issue 7"),
        floor: null,
      },
      {
        bench: "snapshot-consolidate",
        what: `${d} MiB delta: live throughput / offline qemu-img commit's`,
        value: num(r, "throughputRatio"),
        unit: "x",
        target: min(0.7, "issue 7"),
        floor: null,
      },
    );
  }
  return out;
}

const kids = (n: number | null) => (n === 1 ? "1 child" : `${n} children`);

function instantFigures(j: unknown, floors: RawFloors | null): Figure[] {
  const hv = num(j, "oneChildHypervisorMs");
  const api = num(j, "oneChildApiMs");
  const qemuStart = floors ? { what: "QEMU start to QMP (paused, no devices)", value: floors.qemuStartMs } : null;
  const out: Figure[] = [
    {
      bench: "instant-clone",
      what: "one child pre-started, through the API (median)",
      value: num(j, "oneChildPreStartedMs"),
      unit: "ms",
      target: max(15, "issue 18"),
      floor: num(j, "hypervisorResumeMs") === null ? null : { what: "QMP cont of a loaded QEMU (hypervisor layer)", value: num(j, "hypervisorResumeMs")! },
    },
    {
      bench: "instant-clone",
      what: "one child on request, through the API (median)",
      value: api,
      unit: "ms",
      target: max(100, "issue 6"),
      floor: qemuStart,
    },
    {
      bench: "instant-clone",
      what: "engine's share: on request through the API / the same steps on the hypervisor layer",
      value: api === null || hv === null ? null : api / hv,
      unit: "x",
      target: max(1.1, "issue 18"),
      floor: null,
      note: hv === null ? undefined : `hypervisor layer ${hv.toFixed(0)} ms`,
    },
  ];
  for (const r of rows(j, "rows")) {
    const count = num(r, "count");
    out.push({
      bench: "instant-clone",
      what: `${kids(count)} on request, through the API`,
      value: num(r, "instantMs"),
      unit: "ms",
      target: count === 64 ? max(3000, "issue 6") : null,
      floor: num(r, "restoreMs") === null ? null : { what: `${count} restore${count === 1 ? "" : "s"} from a full state file (QEMU, no sharing)`, value: num(r, "restoreMs")! },
    });
    if (num(r, "preStartedMs") !== null) {
      out.push({
        bench: "instant-clone",
        what: `${kids(count)} pre-started, through the API`,
        value: num(r, "preStartedMs"),
        unit: "ms",
        target: count === 64 ? max(1000, "issue 18") : null,
        floor: null,
      });
    }
    const prePss = num(r, "preStartedPss");
    if (prePss !== null) {
      out.push({
        bench: "instant-clone",
        what: `PSS per idle child at ${count}, taken pre-started`,
        value: prePss / MiB,
        unit: "MiB",
        target: (count ?? 0) > 1 ? max(20, "issue 18") : null,
        floor: null,
      });
    }
    const pss = num(r, "childPss");
    out.push({
      bench: "instant-clone",
      what: `PSS per idle child at ${count}`,
      value: pss === null ? null : pss / MiB,
      unit: "MiB",
      target: (count ?? 0) > 1 ? max(20, "issues 6, 18") : null,
      floor: num(r, "restorePss") === null ? null : { what: "PSS per VM restored from a full state file", value: num(r, "restorePss")! / MiB },
      note: count === 1 ? "a single child is its RAM file's only mapper: no sharing to divide by" : undefined,
    });
  }
  const guestCold = num(j, "guest", "coldMs");
  if (guestCold !== null) {
    for (const [key, label] of [
      ["cloneMs", "on request"],
      ["preStartedMs", "pre-started"],
    ] as const) {
      out.push({
        bench: "instant-clone",
        what: `Linux test guest (TCG), ${label}: request to its agent answering`,
        value: num(j, "guest", key),
        unit: "ms",
        target: max(150, "issue 6"),
        floor: { what: "cold boot of the same guest to its agent answering", value: guestCold },
      });
    }
  }
  return out;
}

function migrateFigures(j: unknown): Figure[] {
  const total = num(j, "summary", "plain", "totalMs");
  const stream = num(j, "summary", "plain", "migrateMs");
  return [
    {
      bench: "migrate",
      what: "worst downtime of a live migration (idle 256 MiB Linux guest, loopback)",
      value: num(j, "maxDowntimeMs"),
      unit: "ms",
      target: max(300, "issue 9"),
      floor: null,
    },
    {
      bench: "migrate",
      what: "plain live migration, request to running on the target (median)",
      value: total,
      unit: "ms",
      target: null,
      floor: stream === null ? null : { what: "QEMU's own migration (stream) time", value: stream },
    },
  ];
}

/** The figures of one benchmark's JSON output. */
export function figuresOf(bench: BenchName, json: unknown, floors: RawFloors | null): Figure[] {
  switch (bench) {
    case "pool-vs-copy":
      return poolFigures(json, floors);
    case "replicate":
      return replicateFigures(json);
    case "vm-fork":
      return forkFigures(json, floors);
    case "snapshot-consolidate":
      return snapshotFigures(json);
    case "instant-clone":
      return instantFigures(json, floors);
    case "migrate":
      return migrateFigures(json);
  }
}

export function rate(f: Figure, load: LoadSpan): RatedFigure {
  const overTarget = f.value === null || f.target === null ? null : f.value / f.target.value;
  const met = f.value === null || f.target === null ? null : f.target.kind === "max" ? f.value <= f.target.value : f.value >= f.target.value;
  const overFloor = f.value === null || f.floor === null || f.floor.value === 0 ? null : f.value / f.floor.value;
  return { ...f, overTarget, met, overFloor, load };
}

/** Every rated figure of the run, benchmarks in order. */
export function rateAll(outcomes: BenchOutcome[], floors: RawFloors | null): RatedFigure[] {
  return outcomes.flatMap((o) => (o.json === null ? [] : figuresOf(o.bench, o.json, floors).map((f) => rate(f, o.load))));
}

function fmt(v: number, unit: Figure["unit"]): string {
  if (unit === "x") return `${v < 10 ? v.toFixed(2) : v.toFixed(0)}×`;
  const digits = unit === "MiB" || Math.abs(v) < 10 ? 1 : 0;
  return `${v.toFixed(digits)} ${unit}`;
}

function targetText(f: RatedFigure): string {
  if (f.target === null) return "–";
  return `${f.target.kind === "max" ? "<" : "≥"} ${fmt(f.target.value, f.unit)} (${f.target.source})`;
}

function verdict(f: RatedFigure): string {
  if (f.met === null || f.overTarget === null) return f.value === null ? "not measured" : "–";
  if (f.met) return "met";
  if (f.target!.kind === "max" && f.overTarget >= 2) return `missed: ${f.overTarget.toFixed(1)}× the bound`;
  const by = f.target!.kind === "max" ? f.overTarget - 1 : 1 - f.overTarget;
  return `missed by ${(by * 100).toFixed(0)}%`;
}

const load1 = (l: LoadSpan) => `${l.start[0].toFixed(1)}→${l.end[0].toFixed(1)}`;

/** bench/report.md. */
export function renderReport(run: { startedAt: string; host: string; cpus: number; quick: boolean; floors: RawFloors | null; floorsLoad: LoadSpan | null; outcomes: BenchOutcome[] }): string {
  const figs = rateAll(run.outcomes, run.floors);
  const lines: string[] = [
    "# Benchmark report",
    "",
    `Run ${run.startedAt} on ${run.host} (${run.cpus} CPUs), ${run.quick ? "quick mode (smaller sizes; `npm run bench -- --full` for the benchmarks' defaults)" : "full mode"}. ` +
      "Wall-clock figures of one run; load average is the 1-minute figure when the benchmark started → ended: figures taken under load are slower than on a quiet machine.",
    "",
    "Columns: the figure; its target (and the issue that set it); whether it is met; figure / target; the floor — the raw QEMU, qemu-img or kernel cost of the same work measured in this run — and figure / floor.",
    "",
  ];
  if (run.floors && run.floorsLoad) {
    lines.push(
      `Raw floors (load ${load1(run.floorsLoad)}): 64 renames ${run.floors.rename64Ms.toFixed(2)} ms; QEMU start to QMP, paused ${run.floors.qemuStartMs.toFixed(0)} ms; 256 MiB tmpfs copy ${run.floors.tmpfsCopy256MiBMs.toFixed(0)} ms.`,
      "",
    );
  }
  for (const o of run.outcomes) {
    lines.push(`## ${o.bench}`, "", `\`node dist/bench/${o.bench}.js ${o.args.join(" ")}\` — ${o.seconds.toFixed(0)} s, load ${load1(o.load)} (5 min: ${o.load.start[1].toFixed(1)})`, "");
    if (o.error !== null) {
      lines.push(`**Failed:** ${o.error.replace(/\n/g, " ").slice(0, 500)}`, "");
      continue;
    }
    lines.push("| figure | value | target | verdict | ÷ target | floor | ÷ floor |", "|---|---|---|---|---|---|---|");
    for (const f of figs.filter((x) => x.bench === o.bench)) {
      const floor = f.floor === null ? "–" : `${fmt(f.floor.value, f.unit)} (${f.floor.what})`;
      const note = f.note ? ` — ${f.note}` : "";
      lines.push(
        `| ${f.what}${note} | ${f.value === null ? "–" : fmt(f.value, f.unit)} | ${targetText(f)} | ${verdict(f)} | ${f.overTarget === null ? "–" : f.overTarget.toFixed(2)} | ${floor} | ${f.overFloor === null ? "–" : f.overFloor.toFixed(2)} |`,
      );
    }
    lines.push("");
  }
  const missed = figs.filter((f) => f.met === false);
  lines.push("## Summary", "", `${figs.filter((f) => f.met === true).length} targets met, ${missed.length} missed, ${run.outcomes.filter((o) => o.error !== null).length} benchmarks failed.`);
  for (const f of missed) lines.push(`- ${f.bench}: ${f.what} — ${fmt(f.value!, f.unit)} against ${targetText(f)}, ${verdict(f)} (load ${load1(f.load)})`);
  lines.push("");
  return lines.join("\n");
}

/**
 * The last pretty-printed JSON object in a benchmark's output: from a line "{" to the next line
 * "}" (log lines before or after it are single-line JSON, which never match).
 */
export function lastJsonBlock(stdout: string): unknown {
  const at = stdout.lastIndexOf("\n{\n");
  const start = at >= 0 ? at + 1 : stdout.startsWith("{\n") ? 0 : -1;
  if (start < 0) throw new Error("no JSON object in the benchmark's output");
  const end = stdout.indexOf("\n}", start);
  if (end < 0) throw new Error("the benchmark's JSON output is cut short");
  return JSON.parse(stdout.slice(start, end + 2));
}
