import { abortCampaign, formatReport, runCampaign } from "./torture/campaign";
import { SCENARIOS } from "./torture/scenarios";

// The short fault campaign: one trial of every kind of job (see test/faults/torture/), each a
// SIGKILL of the engine (built CLI from dist/: `npm run build` first) at a random point of the
// job, a restart, and the invariants. `npm run torture -- --trials N` runs the long one.
// About 4 minutes on a quiet 2-core machine; a loaded one takes far longer.
jest.setTimeout(20 * 60_000);

// A campaign cut short (a timeout) still stops the engines and VMs of the trial it was in.
afterAll(() => abortCampaign());

test("a SIGKILL during any kind of job leaves clean disks, no orphan or missing file, no job running, VMs running and data intact", async () => {
  const report = await runCampaign({ trials: SCENARIOS.length, kinds: [], seed: Number(process.env.CLONEFLEET_TORTURE_SEED ?? 16), keep: false });
  const violations = report.trials.flatMap((t) => t.violations.map((v) => `#${t.index} ${t.kind} (killed at ${t.atKill}): ${v.check}: ${v.detail}`));
  if (violations.length > 0) process.stdout.write(formatReport(report) + "\n");
  expect(report.trials.map((t) => t.kind).sort()).toEqual(SCENARIOS.map((s) => s.kind).sort());
  expect(violations).toEqual([]);
});
