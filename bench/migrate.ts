/**
 * Benchmark of application-assisted live migration (S6), through the engine's API in one run:
 * two hosts (two engines on one state folder, on loopback) and an idle 256 MiB Linux test
 * guest under TCG, migrated back and forth
 *  - without a notice (the plain live migration), and
 *  - with a notice the guest acknowledges at once,
 * printing per run the total time (request to the VM running on the target, record moved),
 * QEMU's migration time and the guest's downtime, and for notified runs the acknowledgement
 * wait and the notice's lead time before the switch-over; then medians and the ratio of the
 * two. The target for the downtime is under 300 ms on loopback.
 * Run after a build:
 *
 *   node dist/bench/migrate.js [--runs N] [--dir DIR] [--json] [--keep]
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { startEngine, type RunningEngine } from "../engine/api/engine";
import { ClonefleetClient, type MigrateResultWire, type VmWire } from "../engine/client";
import { ensureTestGuest } from "../test/support/guest-image";

interface Options {
  runs: number;
  dir: string | null;
  json: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { runs: 4, dir: null, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--runs") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`--runs: expected a positive integer, got ${JSON.stringify(argv[i])}`);
      o.runs = n;
    } else if (a === "--dir") o.dir = path.resolve(argv[++i] ?? "");
    else if (a === "--json") o.json = true;
    else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown option ${a} (use --runs N, --dir DIR, --json, --keep)`);
  }
  return o;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

interface Run {
  notify: boolean;
  from: string;
  to: string;
  totalMs: number;
  migrateMs: number;
  downtimeMs: number;
  ackWaitMs: number | null;
  leadMs: number | null;
}

async function waitForText(file: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await fs.readFile(file, "utf8").catch(() => "")).includes(text)) return;
    if (Date.now() > deadline) throw new Error(`${text} did not appear in ${file} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const built = ensureTestGuest();
  if (!built.ok) throw new Error(`the Linux test guest is needed (scripts/build-guest.sh): ${built.reason}`);
  const guest = built.guest;
  const dir = o.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "cf-bench-mig-")));
  await fs.mkdir(dir, { recursive: true });
  const stateDir = path.join(dir, "state");
  const say = (s: string) => {
    if (!o.json) process.stdout.write(s + "\n");
  };
  const engines: RunningEngine[] = [];
  let vmId: string | null = null;
  let client: ClonefleetClient | null = null;
  try {
    engines.push(await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: pino({ level: "silent" }), heartbeatIntervalMs: 500 }));
    engines.push(await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: pino({ level: "silent" }), heartbeatIntervalMs: 500, hostName: "b" }));
    client = new ClonefleetClient({ endpoint: engines[0].url, token: engines[0].token });
    const dsPath = path.join(dir, "ds");
    await fs.mkdir(dsPath, { recursive: true });
    const ds = await client.datastores.create({ name: "bench", path: dsPath });
    const tj = await client.templates.import({
      name: "guest",
      datastore_id: ds.id,
      source_path: guest.rootDisk,
      memory_mb: 256,
      vcpus: 1,
      kernel: guest.kernel,
      initrd: guest.initrd,
      cmdline: guest.cmdline,
    });
    const tpl = (await client.waitJob(tj.id)).result as { id: string };
    const vj = await client.vms.create({ name: "mover", template_id: tpl.id, clone_mode: "full" });
    const vm = (await client.waitJob(vj.id)).result as VmWire;
    vmId = vm.id;
    const started = await client.vms.start(vm.id, { accel: "tcg" });
    await waitForText(path.join(started.state_dir!, "serial.log"), guest.readyLine, 120_000);
    // Let the guest settle into idle after its boot.
    await new Promise((r) => setTimeout(r, 2000));
    say(`idle 256 MiB Linux test guest (TCG), two hosts on loopback, ${o.runs} round trips per mode`);

    const runs: Run[] = [];
    let at = "local";
    // Interleaved (a round trip of each mode in turn), so that a change in the machine's load
    // hits both modes alike.
    for (let round = 0; round < o.runs; round++) {
      for (const notify of [false, true]) for (let leg = 0; leg < 2; leg++) {
        const to = at === "local" ? "b" : "local";
        const job = await client.vms.migrate(vm.id, { host_id: to, notify_timeout_seconds: notify ? 30 : 0, on_missing_ack: "abort" });
        const r = (await client.waitJob(job.id, { timeoutMs: 300_000 })).result as MigrateResultWire;
        const run: Run = {
          notify,
          from: at,
          to,
          totalMs: r.total_ms,
          migrateMs: r.migrate_ms ?? NaN,
          downtimeMs: r.downtime_ms ?? NaN,
          ackWaitMs: r.notice?.waited_ms ?? null,
          leadMs: r.notice?.lead_ms ?? null,
        };
        runs.push(run);
        say(
          `  ${notify ? "notified" : "plain   "} ${at.padEnd(5)} -> ${to.padEnd(5)} total ${run.totalMs.toFixed(0).padStart(5)} ms, stream ${run.migrateMs.toFixed(0).padStart(5)} ms, ` +
            `downtime ${run.downtimeMs.toFixed(0).padStart(4)} ms${notify ? `, ack after ${run.ackWaitMs} ms, told ${run.leadMs} ms before the switch-over` : ""}`,
        );
        at = to;
      }
    }
    const plain = runs.filter((r) => !r.notify);
    const told = runs.filter((r) => r.notify);
    const summary = {
      plain: { totalMs: median(plain.map((r) => r.totalMs)), migrateMs: median(plain.map((r) => r.migrateMs)), downtimeMs: median(plain.map((r) => r.downtimeMs)), runs: plain.length },
      notified: {
        totalMs: median(told.map((r) => r.totalMs)),
        migrateMs: median(told.map((r) => r.migrateMs)),
        downtimeMs: median(told.map((r) => r.downtimeMs)),
        ackWaitMs: median(told.map((r) => r.ackWaitMs ?? NaN)),
        leadMs: median(told.map((r) => r.leadMs ?? NaN)),
        runs: told.length,
      },
    };
    const ratio = summary.notified.totalMs / summary.plain.totalMs;
    const maxDowntime = Math.max(...runs.map((r) => r.downtimeMs));
    say("");
    say(`plain live migration:   total ${summary.plain.totalMs.toFixed(0)} ms, stream ${summary.plain.migrateMs.toFixed(0)} ms, downtime ${summary.plain.downtimeMs.toFixed(0)} ms (median of ${plain.length})`);
    say(
      `with guest notification: total ${summary.notified.totalMs.toFixed(0)} ms, stream ${summary.notified.migrateMs.toFixed(0)} ms, downtime ${summary.notified.downtimeMs.toFixed(0)} ms, ` +
        `ack after ${summary.notified.ackWaitMs.toFixed(0)} ms, notice ${summary.notified.leadMs.toFixed(0)} ms before the switch-over (median of ${told.length})`,
    );
    say(`notification costs ${ratio.toFixed(2)}x the plain total time (+${(summary.notified.totalMs - summary.plain.totalMs).toFixed(0)} ms)`);
    say(`worst downtime ${maxDowntime.toFixed(0)} ms: ${maxDowntime < 300 ? "under" : "OVER"} the 300 ms target`);
    if (o.json) process.stdout.write(JSON.stringify({ runs, summary, notifiedOverPlainTotal: ratio, maxDowntimeMs: maxDowntime }, null, 2) + "\n");
  } finally {
    if (client && vmId) await client.vms.stop(vmId, { timeout_seconds: 0 }).catch(() => undefined);
    for (const e of engines.reverse()) await e.close();
    if (!o.keep && !o.dir) await fs.rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
