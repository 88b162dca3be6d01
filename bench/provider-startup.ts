/**
 * Benchmark of the Terraform provider's start (issue 15, "fast plans"), in one run:
 *  (a) launch to handshake line, and launch to an answered GetProviderSchema (what Terraform
 *      waits for before its first real call), of the packaged provider (dist/provider-bundle:
 *      one esbuild file run through its V8 code cache) and of the unbundled tsc output
 *      (dist/provider/main.js, what bin/terraform-provider-clonefleet runs), each launched with
 *      the environment Terraform gives a plugin (magic cookie, protocol versions, AutoMTLS
 *      client certificate);
 *  (b) the same launch to handshake of a minimal reference plugin: a Node program that listens
 *      on a unix socket and prints its handshake line at once, the floor for a Node process;
 *  (c) with terraform on PATH, a no-op `terraform plan` of examples/terraform against a local
 *      engine started here (applied once first, destroyed at the end), with each provider, and
 *      the engine requests one plan makes.
 * Figures are medians; ratios are against the 150 ms and 2 s targets and the reference.
 * Run after a build (`npm run bench:provider` builds):
 *
 *   node dist/bench/provider-startup.js [--launches N] [--plans N] [--no-plan] [--baseline CHECKOUT] [--json]
 *
 * --baseline adds another checkout's built provider (CHECKOUT/dist/provider/main.js, e.g. the
 * main branch before a change) to every measurement.
 */
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { PROJECT_ROOT } from "../engine/version";
import { LAUNCHER_FILE } from "../provider/bundle/layout";
import { DEFAULT_BUNDLE_DIR } from "../provider/bundle/build";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "../provider/protocol/handshake";
import { makeCertificate } from "../provider/protocol/mtls";
import { PROVIDER_SOURCE } from "../provider/schema-json";
import { ProviderProcess } from "../test/protocol/driver";
import { makeRawImage, startTestEngine } from "../test/support/engine";

const HANDSHAKE_TARGET_MS = 150;
const PLAN_TARGET_MS = 2000;

interface Options {
  launches: number;
  plans: number;
  plan: boolean;
  baseline: string | null;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { launches: 15, plans: 3, plan: true, baseline: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const count = (v: string | undefined) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: expected a positive integer, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === "--launches") o.launches = count(argv[++i]);
    else if (a === "--plans") o.plans = count(argv[++i]);
    else if (a === "--no-plan") o.plan = false;
    else if (a === "--baseline") o.baseline = path.resolve(argv[++i] ?? "");
    else if (a === "--json") o.json = true;
    else throw new Error(`unknown option ${a} (use --launches N, --plans N, --no-plan, --baseline CHECKOUT, --json)`);
  }
  return o;
}

interface Command {
  label: string;
  command: string;
  args: string[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The reference plugin: listen, print the handshake line, serve nothing; removes its socket on SIGTERM. */
const REFERENCE_PLUGIN = `const net = require("node:net"), fs = require("node:fs"), os = require("node:os"), path = require("node:path");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-plugin-ref-"));
const sock = path.join(dir, "plugin.sock");
const server = net.createServer((c) => c.destroy()).listen(sock, () => process.stdout.write("1|6|unix|" + sock + "|grpc|\\n"));
process.on("SIGTERM", () => { server.close(); fs.rmSync(dir, { recursive: true, force: true }); process.exit(0); });
`;

/** CPU time (user + system) a process has used so far, from /proc; NaN where there is no /proc. */
function cpuMs(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

/** Launches once as Terraform does; resolves with wall and CPU ms to the handshake line, after stopping the process. */
function launchToHandshake(c: Command): Promise<{ wallMs: number; cpuMs: number }> {
  const env = { ...process.env, [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_PROTOCOL_VERSIONS: "5,6", PLUGIN_MIN_PORT: "10000", PLUGIN_MAX_PORT: "25000", PLUGIN_CLIENT_CERT: makeCertificate().certPem };
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(c.command, c.args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let result: { wallMs: number; cpuMs: number } | undefined;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      if (result || !out.includes("\n")) return;
      result = { wallMs: Number(process.hrtime.bigint() - start) / 1e6, cpuMs: cpuMs(child.pid!) };
      child.kill("SIGTERM");
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("exit", (code) => (result ? resolve(result) : reject(new Error(`${c.label} exited (${code}) before its handshake:\n${err}`))));
  });
}

/** Launches with the protocol driver and times launch to an answered GetProviderSchema. */
async function launchToSchema(c: Command): Promise<number> {
  const start = process.hrtime.bigint();
  const p = await ProviderProcess.launch({ command: c.command, args: c.args });
  try {
    const schemas = await p.getProviderSchema();
    if (!schemas.resources.clonefleet_vm) throw new Error(`${c.label} answered a schema without clonefleet_vm`);
    return Number(process.hrtime.bigint() - start) / 1e6;
  } finally {
    await p.shutdown();
    await p.stop();
  }
}

function findOnPath(name: string): string | undefined {
  return (process.env.PATH ?? "").split(path.delimiter).map((d) => path.join(d, name)).find((p) => fs.existsSync(p));
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; ms: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) =>
    execFile(cmd, args, { cwd, env, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}\n${stderr}`, ms: Number(process.hrtime.bigint() - start) / 1e6 }),
    ),
  );
}

interface PlanFigures {
  label: string;
  medianMs: number;
  runsMs: number[];
  /** Provider processes Terraform started for one plan. */
  launches: number;
  /** The engine's time answering one plan's requests: summed, and the slowest. */
  engineTotalMs: number;
  engineSlowestMs: number;
  engineRequests: Record<string, number>;
}

/** Terraform's own cost: a no-op plan of a configuration with no provider at all. */
async function terraformFloorMs(terraform: string, dir: string, plans: number): Promise<number> {
  const work = path.join(dir, "floor");
  fs.mkdirSync(work);
  fs.writeFileSync(path.join(work, "main.tf"), 'locals {\n  nothing = 1\n}\n');
  const env = { ...process.env, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_LOG: "" };
  const runs: number[] = [];
  for (let i = 0; i < plans; i++) {
    const r = await run(terraform, ["plan", "-detailed-exitcode", "-no-color", "-input=false"], work, env);
    if (r.code !== 0) throw new Error(`terraform plan of an empty configuration failed (${r.code}):\n${r.out}`);
    runs.push(r.ms);
  }
  return median(runs);
}

/** Applies examples/terraform once, times no-op plans with each provider, destroys. */
async function benchPlans(terraform: string, providers: Command[], plans: number, dir: string): Promise<PlanFigures[]> {
  const requests: string[] = [];
  const responseMs: number[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n")) {
        if (line.includes('"request completed"')) responseMs.push(Number((JSON.parse(line) as { responseTime?: number }).responseTime ?? 0));
        if (!line.includes('"incoming request"')) continue;
        const req = (JSON.parse(line) as { req?: { method?: string; url?: string } }).req;
        if (req) requests.push(`${req.method} ${(req.url ?? "").replace(/\?.*$/, "?…").replace(/\/[a-z]+-[0-9a-f]{8,}$/, "/{id}")}`);
      }
      cb();
    },
  });
  const t = await startTestEngine({ dir, engine: { log: pino({ level: "info" }, sink) } });
  const tmpfsDir = t.engine.runner.settings.parentTmpfsDir;
  try {
    const work = path.join(dir, "example");
    fs.mkdirSync(work);
    fs.copyFileSync(path.join(PROJECT_ROOT, "examples", "terraform", "main.tf"), path.join(work, "main.tf"));
    const image = await makeRawImage(path.join(dir, "image.raw"));
    const vars = ["-var", `datastore_path=${path.join(dir, "ds")}`, "-var", `image_path=${image}`];
    const envFor = (c: Command) => {
      const bin = path.join(dir, `bin-${providers.indexOf(c)}`);
      if (!fs.existsSync(bin)) {
        fs.mkdirSync(bin);
        const argv = [c.command, ...c.args].map((a) => JSON.stringify(a)).join(" ");
        // Each start leaves a line in launches.log, to count how often Terraform starts the provider.
        const log = JSON.stringify(path.join(bin, "launches.log"));
        fs.writeFileSync(path.join(bin, "terraform-provider-clonefleet"), `#!/bin/sh\necho start >> ${log}\nexec ${argv} "$@"\n`, { mode: 0o755 });
      }
      const rc = path.join(bin, "terraform.rc");
      fs.writeFileSync(rc, `provider_installation {\n  dev_overrides {\n    "${PROVIDER_SOURCE}" = ${JSON.stringify(bin)}\n  }\n  direct {}\n}\n`);
      return { ...process.env, TF_CLI_CONFIG_FILE: rc, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", TF_LOG: "", TF_VAR_token: t.engine.token!, TF_VAR_endpoint: t.engine.url };
    };
    const tf = async (c: Command, ...args: string[]) => run(terraform, [...args, "-no-color", "-input=false"], work, envFor(c));
    process.stderr.write("applying examples/terraform (creates VMs; takes a while)...\n");
    const applied = await tf(providers[0], "apply", "-auto-approve", ...vars);
    if (applied.code !== 0) throw new Error(`terraform apply failed:\n${applied.out}`);
    const figures: PlanFigures[] = providers.map((c) => ({ label: c.label, medianMs: 0, runsMs: [], launches: 0, engineTotalMs: 0, engineSlowestMs: 0, engineRequests: {} }));
    const launchLog = (k: number) => path.join(dir, `bin-${k}`, "launches.log");
    try {
      // Interleaved, so that a change in the machine's load hits both providers alike.
      for (let i = 0; i < plans; i++) {
        for (const [k, c] of providers.entries()) {
          requests.length = 0;
          responseMs.length = 0;
          fs.rmSync(launchLog(k), { force: true });
          const r = await tf(c, "plan", "-detailed-exitcode", ...vars);
          if (r.code !== 0) throw new Error(`terraform plan with ${c.label} was not a no-op (exit ${r.code}):\n${r.out}`);
          figures[k].runsMs.push(r.ms);
          if (i > 0) continue;
          for (const q of requests) figures[k].engineRequests[q] = (figures[k].engineRequests[q] ?? 0) + 1;
          figures[k].engineTotalMs = responseMs.reduce((a, b) => a + b, 0);
          figures[k].engineSlowestMs = Math.max(0, ...responseMs);
          figures[k].launches = fs.readFileSync(launchLog(k), "utf8").split("\n").filter(Boolean).length;
        }
      }
    } finally {
      const destroyed = await tf(providers[0], "destroy", "-auto-approve", ...vars);
      if (destroyed.code !== 0) process.stderr.write(`terraform destroy failed:\n${destroyed.out}\n`);
    }
    for (const f of figures) f.medianMs = median(f.runsMs);
    return figures;
  } finally {
    await t.stop();
    if (tmpfsDir) fs.rmSync(tmpfsDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const bundled: Command = { label: "packaged (bundle + code cache)", command: process.execPath, args: [path.join(DEFAULT_BUNDLE_DIR, LAUNCHER_FILE)] };
  const unbundled: Command = { label: "unbundled (dist/provider/main.js)", command: process.execPath, args: [path.join(PROJECT_ROOT, "dist", "provider", "main.js")] };
  const baseline: Command[] = o.baseline ? [{ label: `baseline (${o.baseline})`, command: process.execPath, args: [path.join(o.baseline, "dist", "provider", "main.js")] }] : [];
  for (const c of [bundled, unbundled, ...baseline]) if (!fs.existsSync(c.args[0])) throw new Error(`${c.args[0]} is missing: run \`npm run build\` first`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cf-bench-provider-"));
  try {
    const refFile = path.join(dir, "reference-plugin.js");
    fs.writeFileSync(refFile, REFERENCE_PLUGIN);
    const reference: Command = { label: "reference (minimal node plugin)", command: process.execPath, args: [refFile] };

    // (a) and (b), interleaved launch by launch.
    const commands = [bundled, unbundled, ...baseline, reference];
    const samples = commands.map(() => ({ wall: [] as number[], cpu: [] as number[], schema: [] as number[] }));
    for (let i = 0; i < o.launches; i++) {
      for (const [k, c] of commands.entries()) {
        const r = await launchToHandshake(c);
        samples[k].wall.push(r.wallMs);
        samples[k].cpu.push(r.cpuMs);
        if (c !== reference) samples[k].schema.push(await launchToSchema(c));
      }
    }
    const refWall = median(samples[commands.indexOf(reference)].wall);
    const startup = commands.map((c, k) => ({
      label: c.label,
      handshakeMs: median(samples[k].wall),
      handshakeMinMs: Math.min(...samples[k].wall),
      cpuAtHandshakeMs: median(samples[k].cpu),
      schemaAnsweredMs: samples[k].schema.length ? median(samples[k].schema) : null,
    }));

    // (c)
    const terraform = findOnPath("terraform");
    let plans: PlanFigures[] | null = null;
    let floorMs: number | null = null;
    let planSkipped: string | null = null;
    if (!o.plan) planSkipped = "--no-plan";
    else if (!terraform) planSkipped = "terraform is not on PATH";
    else {
      floorMs = await terraformFloorMs(terraform, dir, o.plans);
      plans = await benchPlans(terraform, [bundled, unbundled, ...baseline], o.plans, path.join(dir, "plan"));
    }

    if (o.json) {
      console.log(JSON.stringify({ launches: o.launches, startup, plans, terraformFloorMs: floorMs, planSkipped, targets: { handshakeMs: HANDSHAKE_TARGET_MS, planMs: PLAN_TARGET_MS } }, null, 2));
      return;
    }
    const ms = (v: number) => `${v.toFixed(0)} ms`;
    console.log(`launch to handshake line, median of ${o.launches} (node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}):`);
    for (const s of startup) {
      const schema = s.schemaAnsweredMs === null ? "" : `; to GetProviderSchema answered ${ms(s.schemaAnsweredMs)}`;
      console.log(
        `  ${s.label.padEnd(34)} ${ms(s.handshakeMs).padStart(7)} (min ${ms(s.handshakeMinMs)}, CPU ${ms(s.cpuAtHandshakeMs)})` +
          `  = ${(s.handshakeMs / HANDSHAKE_TARGET_MS).toFixed(2)}x the ${HANDSHAKE_TARGET_MS} ms target, ${(s.handshakeMs / refWall).toFixed(2)}x the reference${schema}`,
      );
    }
    for (const s of startup.slice(1, -1)) console.log(`  packaged vs ${s.label}: ${(s.handshakeMs / startup[0].handshakeMs).toFixed(2)}x faster to the handshake`);
    if (planSkipped) console.log(`no-op terraform plan of examples/terraform: skipped (${planSkipped})`);
    else {
      console.log(`no-op terraform plan of a configuration without providers (Terraform's own floor): ${ms(floorMs!)}`);
      for (const p of plans!) {
        const total = Object.values(p.engineRequests).reduce((a, b) => a + b, 0);
        console.log(
          `no-op terraform plan of examples/terraform, ${p.label}: ${ms(p.medianMs)} (runs ${p.runsMs.map((r) => r.toFixed(0)).join(", ")})` +
            ` = ${(p.medianMs / PLAN_TARGET_MS).toFixed(2)}x the ${PLAN_TARGET_MS} ms target, ${(p.medianMs / floorMs!).toFixed(1)}x the floor;` +
            ` ${p.launches} provider starts, ${total} engine requests (answered in ${ms(p.engineTotalMs)} summed, slowest ${ms(p.engineSlowestMs)}):`,
        );
        for (const [req, n] of Object.entries(p.engineRequests).sort()) console.log(`    ${String(n).padStart(3)} ${req}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exitCode = 1;
});
