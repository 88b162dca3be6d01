import { figuresOf, lastJsonBlock, rate, renderReport, type BenchOutcome, type LoadSpan } from "../../bench/report-figures";

const load: LoadSpan = { start: [4.2, 3, 2], end: [5.1, 3.2, 2.1] };
const floors = { rename64Ms: 0.5, qemuStartMs: 120, tmpfsCopy256MiBMs: 60 };

describe("benchmark report figures", () => {
  it("rates a max target met and one missed, with the miss as a percentage", () => {
    const figs = figuresOf("instant-clone", { oneChildApiMs: 180, oneChildHypervisorMs: 150, hypervisorResumeMs: 2, oneChildPreStartedMs: 12, rows: [] }, floors).map((f) => rate(f, load));
    const pre = figs.find((f) => f.what.startsWith("one child pre-started"))!;
    expect(pre.met).toBe(true);
    expect(pre.overFloor).toBeCloseTo(6);
    const share = figs.find((f) => f.what.startsWith("engine's share"))!;
    expect(share.value).toBeCloseTo(1.2);
    expect(share.met).toBe(false);
    const md = renderReport({ startedAt: "t", host: "h", cpus: 2, quick: true, floors, floorsLoad: load, outcomes: [{ bench: "instant-clone", args: [], seconds: 1, load, json: { oneChildApiMs: 180, oneChildHypervisorMs: 150, oneChildPreStartedMs: 12, rows: [] }, error: null }] });
    expect(md).toContain("missed by 9%");
    expect(md).toContain("load 4.2→5.1");
  });

  it("rates a min target (full copies must be 100x slower than pools)", () => {
    const figs = figuresOf("pool-vs-copy", { rows: [{ count: 64, method: "pool", seconds: 0.1 }, { count: 64, method: "full", seconds: 5, estimated: true }] }, floors).map((f) => rate(f, load));
    expect(figs[0].value).toBeCloseTo(100);
    expect(figs[0].met).toBe(true);
    expect(figs[1].value).toBeCloseTo(50);
    expect(figs[1].met).toBe(false);
    expect(figs[1].what).toContain("estimated");
  });

  it("reports a failed benchmark and a figure the run did not produce as such", () => {
    const outcomes: BenchOutcome[] = [
      { bench: "migrate", args: ["--runs", "1"], seconds: 3, load, json: null, error: "the Linux test guest is needed" },
      { bench: "snapshot-consolidate", args: [], seconds: 3, load, json: { rows: [{ deltaMib: 64, liveMs: 500, pivotMs: null, throughputRatio: 0.8, offlineMs: 400 }] }, error: null },
    ];
    const md = renderReport({ startedAt: "t", host: "h", cpus: 2, quick: true, floors: null, floorsLoad: null, outcomes });
    expect(md).toContain("**Failed:** the Linux test guest is needed");
    expect(md).toMatch(/pivot \(guest-visible pause\) \| – \| < 20 ms \(issue 7\) \| not measured/);
    expect(md).toContain("1 benchmarks failed");
  });

  it("finds the benchmark's JSON after single-line log output", () => {
    expect(lastJsonBlock('{"level":40,"msg":"x"}\n{\n  "a": {\n    "b": 1\n  }\n}\n')).toEqual({ a: { b: 1 } });
    expect(lastJsonBlock('{\n  "a": 2\n}\n')).toEqual({ a: 2 });
    expect(lastJsonBlock('{\n  "a": 3\n}\n{"level":40,"msg":"after"}\n')).toEqual({ a: 3 });
    expect(() => lastJsonBlock('{\n  "a": 3\n')).toThrow(/cut short/);
    expect(() => lastJsonBlock("no json here")).toThrow(/no JSON object/);
  });
});
