/**
 * The fault campaign: random SIGKILLs of the engine during every kind of job, a restart, and
 * checks of what must hold afterwards (see campaign.ts). Exits 1 when any invariant broke.
 *
 *   npm run torture -- [--trials N] [--kinds a,b] [--seed S] [--keep] [--copy-rate-limit 8M]
 */
import { abortCampaign, formatReport, runCampaign, type CampaignOptions } from "./campaign";
import { SCENARIOS } from "./scenarios";

const USAGE = `usage: npm run torture -- [--trials N] [--kinds a,b] [--seed S] [--keep] [--copy-rate-limit SIZE]
kinds: ${SCENARIOS.map((s) => s.kind).join(", ")}`;

function parseArgs(argv: string[]): CampaignOptions {
  const o: CampaignOptions = { trials: SCENARIOS.length, kinds: [], seed: Date.now() % 1_000_000, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a}: a value is missing\n${USAGE}`);
      return v;
    };
    if (a === "--trials" || a === "--seed") {
      const v = value();
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < (a === "--trials" ? 1 : 0)) throw new Error(`${a}: expected ${a === "--trials" ? "a positive" : "a non-negative"} integer, got ${JSON.stringify(v)}`);
      if (a === "--trials") o.trials = n;
      else o.seed = n;
    } else if (a === "--kinds") o.kinds = value().split(",").map((k) => k.trim()).filter((k) => k !== "");
    else if (a === "--keep") o.keep = true;
    else if (a === "--copy-rate-limit") o.copyRateLimit = value();
    else if (a === "--help" || a === "-h") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  return o;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      process.stderr.write(`${sig}: stopping the trial's engines and VMs\n`);
      void abortCampaign().finally(() => process.exit(130));
    });
  }
  process.stdout.write(`fault campaign: ${opts.trials} trials, seed ${opts.seed}${opts.kinds.length ? `, kinds ${opts.kinds.join(",")}` : ""}\n`);
  const report = await runCampaign({ ...opts, log: (l) => process.stdout.write(l + "\n") });
  process.stdout.write("\n" + formatReport(report) + "\n");
  process.exitCode = report.trials.some((t) => t.violations.length > 0) ? 1 : 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
