/**
 * Benchmark of instant-clone parents (S3), through the engine's API in one run:
 *  - time from request to running for 1, 16 and 64 instant clones of one parent (started
 *    concurrently, bounded by the engine), next to cold starts of as many VMs through the API
 *    and next to restores from a full state file without shared memory (RAM in the stream,
 *    anonymous RAM per VM: what a restore costs when nothing is shared);
 *  - the same with the children pre-started (the parent's warm_count) before the request;
 *  - PSS and RSS per idle child against the restored VMs';
 *  - with the Linux test guest (TCG): request to the clone's agent answering, next to a cold
 *    boot of the same guest to its agent answering.
 * Firmware-only VMs use the host's accelerator (--accel, default auto). Run after a build:
 *
 *   node dist/bench/instant-clone.js [--counts 1,16,64] [--compare-max N] [--memory-mb 256] [--fill-mib 128] [--accel auto|kvm|tcg] [--no-guest] [--dir DIR] [--json] [--keep]
 *
 * Cold starts and full-state restores are measured for counts up to --compare-max (default: all).
 */
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pino from "pino";
import { startEngine } from "../engine/api/engine";
import { ClonefleetClient, type InstantCloneResultWire, type ParentWire, type VmWire } from "../engine/client";
import { AGENT_PORT_NAME, GuestAgentClient, QemuProcess, portSocketPath, probeVm, saveState, type VmSpec } from "../engine/hypervisor";
import { MAX_WARM_CHILDREN } from "../engine/model";
import { mapBounded } from "../engine/ops";
import { PROJECT_ROOT } from "../engine/version";

const run = promisify(execFile);
const MiB = 1024 * 1024;

interface Options {
  counts: number[];
  compareMax: number;
  memoryMb: number;
  fillMib: number;
  accel: "auto" | "kvm" | "tcg";
  guest: boolean;
  dir: string | null;
  json: boolean;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { counts: [1, 16, 64], compareMax: Infinity, memoryMb: 256, fillMib: 128, accel: "auto", guest: true, dir: null, json: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (v: string | undefined) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${a}: expected a non-negative integer, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === "--counts") o.counts = (argv[++i] ?? "").split(",").map((v) => num(v));
    else if (a === "--compare-max") o.compareMax = num(argv[++i]);
    else if (a === "--memory-mb") o.memoryMb = num(argv[++i]);
    else if (a === "--fill-mib") o.fillMib = num(argv[++i]);
    else if (a === "--accel") {
      const v = argv[++i];
      if (v !== "auto" && v !== "kvm" && v !== "tcg") throw new Error(`--accel: expected auto, kvm or tcg, got ${JSON.stringify(v)}`);
      o.accel = v;
    } else if (a === "--no-guest") o.guest = false;
    else if (a === "--dir") o.dir = path.resolve(argv[++i] ?? "");
    else if (a === "--json") o.json = true;
    else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown option ${a} (use --counts 1,16,64, --compare-max N, --memory-mb N, --fill-mib N, --accel A, --no-guest, --dir DIR, --json, --keep)`);
  }
  if (o.fillMib >= o.memoryMb) throw new Error(`--fill-mib must be below --memory-mb (${o.memoryMb})`);
  return o;
}

/** The Linux test guest built by scripts/build-guest.sh, or why it is not there (the bench never builds it). */
async function builtGuest(): Promise<{ ok: true; guest: { kernel: string; initrd: string; rootDisk: string; cmdline: string } } | { ok: false; reason: string }> {
  const dir = process.env.CLONEFLEET_GUEST_DIR ?? path.join(PROJECT_ROOT, ".cache", "guest");
  try {
    const m = JSON.parse(await fs.readFile(path.join(dir, "manifest.json"), "utf8")) as {
      cmdline: string;
      files: { vmlinuz: { path: string }; initrd: { path: string }; root_disk: { path: string } };
    };
    return { ok: true, guest: { kernel: path.join(dir, m.files.vmlinuz.path), initrd: path.join(dir, m.files.initrd.path), rootDisk: path.join(dir, m.files.root_disk.path), cmdline: m.cmdline } };
  } catch {
    return { ok: false, reason: `no built guest in ${dir} (run scripts/build-guest.sh)` };
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const ms = (n: number | null) => (n === null ? "-" : `${n.toFixed(0)} ms`);
const mib = (n: number | null) => (n === null ? "-" : `${(n / MiB).toFixed(1)} MiB`);
const times = (a: number | null, b: number) => (a === null ? "-" : `${(a / b).toFixed(2)}x`);

async function memoryOf(pid: number): Promise<{ pss: number; rss: number }> {
  const text = await fs.readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { pss: kb("Pss"), rss: kb("Rss") };
}

/** Fills `mib` MiB of a running VM's shared RAM file, above the first half, with non-zero data: guest RAM in use, as a real guest's would be. */
async function fillRam(ramFile: string, memoryMb: number, mibToFill: number): Promise<void> {
  const handle = await fs.open(ramFile, "r+");
  try {
    const chunk = Buffer.alloc(MiB);
    for (let i = 0; i < mibToFill; i++) {
      chunk.fill((i % 250) + 1);
      await handle.write(chunk, 0, MiB, (memoryMb - mibToFill + i) * MiB);
    }
  } finally {
    await handle.close();
  }
}

async function agentAnswers(stateDir: string, timeoutMs: number): Promise<void> {
  const socket = portSocketPath(stateDir, { name: AGENT_PORT_NAME });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let agent: GuestAgentClient | null = null;
    try {
      agent = await GuestAgentClient.connect(socket, { timeoutMs: 2000 });
      await agent.ping({ timeoutMs: 1000 });
      await agent.close();
      return;
    } catch (err) {
      await agent?.close().catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

interface Row {
  count: number;
  instantMs: number;
  instantChildMedianMs: number;
  /** Cold starts and restores of as many VMs; null above --compare-max. */
  coldMs: number | null;
  restoreMs: number | null;
  childPss: number;
  childRss: number;
  restorePss: number | null;
  /** The same count with as many children pre-started (warm_count) before the request; null above 64. */
  preStartedMs: number | null;
  /** PSS per child of those, idle a second after the take; null above 64. */
  preStartedPss: number | null;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = o.dir ?? (await fs.mkdtemp(path.join(os.tmpdir(), "cf-bench-ic-")));
  await fs.mkdir(dir, { recursive: true });
  const say = (line: string) => {
    if (!o.json) console.log(line);
  };
  const engine = await startEngine({ stateDir: path.join(dir, "state"), host: "127.0.0.1", port: 0, insecureNoAuth: true, accel: o.accel, log: pino({ level: process.env.CLONEFLEET_BENCH_LOG ?? "warn" }) });
  const client = new ClonefleetClient({ endpoint: engine.url, token: null, requestTimeoutMs: 600_000 });
  const started: string[] = [];
  const restored: QemuProcess[] = [];
  try {
    const dsPath = path.join(dir, "ds");
    await fs.mkdir(dsPath, { recursive: true });
    const ds = await client.datastores.create({ name: "bench", path: dsPath });
    const img = path.join(dir, "blank.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", img, "64M"]);
    const tj = await client.templates.import({ name: "fw", datastore_id: ds.id, source_path: img, memory_mb: o.memoryMb, vcpus: 1 });
    const tpl = (await client.waitJob(tj.id)).result as { id: string };

    // The parent: a running firmware-only VM whose RAM holds --fill-mib of data.
    const srcJob = await client.vms.create({ name: "src", template_id: tpl.id, clone_mode: "linked" });
    const src = (await client.waitJob(srcJob.id)).result as VmWire;
    const running = await client.vms.start(src.id);
    await fillRam(path.join(running.state_dir!, "ram"), o.memoryMb, o.fillMib);
    const pj = await client.parents.create({ source_vm_id: src.id, name: "fw-parent" });
    const parent = (await client.waitJob(pj.id)).result as ParentWire;
    say(`parent: ${o.memoryMb} MiB guest (${o.fillMib} MiB of it written), ${parent.accel}, RAM on ${parent.ram_location}, device state ${(await fs.stat(parent.device_state_path)).size} bytes`);

    // A full state file of the same guest: a child saved with its RAM in the stream.
    const fj = await client.parents.clone(parent.id, { count: 1, name_prefix: "full-src", start_paused: true });
    const fullSrc = ((await client.waitJob(fj.id)).result as InstantCloneResultWire).children[0];
    const fullProc = await QemuProcess.reattach(fullSrc.state_dir!);
    const fullState = path.join(dir, "full.state");
    const saved = await saveState(fullProc.qmp, fullState, { ignoreShared: false });
    await fullProc.detach();
    await client.vms.delete(fullSrc.id);
    say(`full state file (RAM in the stream): ${mib(saved.sizeBytes)}, saved in ${ms(saved.durationMs)}`);
    const restoreSpec = (i: number): VmSpec => ({
      name: `restore-${i}`,
      stateDir: path.join(dir, "restore", String(i)),
      accel: parent.accel as "kvm" | "tcg",
      memoryMb: o.memoryMb,
      vcpus: 1,
      disks: [{ path: path.join(dir, "restore", `disk-${i}.qcow2`), nodeName: "disk0" }],
      serialPorts: [{ name: AGENT_PORT_NAME }, { name: "org.clonefleet.notify.0" }],
      identity: `restore-${i}`,
      // The saved RAM block is the memory backend `cf-ram`; a fresh, empty file of its own mapped
      // privately gives the same block name with nothing shared: every page the load writes is
      // this VM's own, as with anonymous RAM.
      memoryFile: { path: path.join(dir, "restore", String(i), "ram"), share: false },
      incoming: "defer",
    });

    // One child at a time, five times: through the API (request to running) against the same
    // steps done directly on the hypervisor layer (QEMU spawn, state load, cont), in this run.
    const apiOne: number[] = [];
    const rawOne: number[] = [];
    // Within the raw steps: state load and resume of an already started QEMU (today's
    // pre-started take), and the resume alone (the floor of a take that only resumes).
    const rawLoadResume: number[] = [];
    const rawResume: number[] = [];
    await fs.mkdir(path.join(dir, "raw"), { recursive: true });
    for (let i = 0; i < 5; i++) {
      const a0 = performance.now();
      const one = await client.parents.clone(parent.id, { count: 1, name_prefix: `one${i}` });
      const kid = ((await client.waitJob(one.id)).result as InstantCloneResultWire).children[0];
      apiOne.push(performance.now() - a0);
      await client.vms.delete(kid.id);
      const disk = path.join(dir, "raw", `disk-${i}.qcow2`);
      await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", parent.disk_path, "-F", "qcow2", disk]);
      const r0 = performance.now();
      const p = await QemuProcess.start({
        ...restoreSpec(i),
        name: `raw-${i}`,
        stateDir: path.join(dir, "raw", String(i)),
        disks: [{ path: disk, nodeName: "disk0", backingChain: parent.disk_chain.map((l) => ({ path: l, readOnly: true })) }],
        memoryFile: { path: parent.ram_path, share: false },
      }, { stateFile: parent.device_state_path });
      const r1 = performance.now();
      await p.loadStartState({ ignoreShared: true });
      const r2 = performance.now();
      await p.resume();
      const r3 = performance.now();
      rawOne.push(r3 - r0);
      rawLoadResume.push(r3 - r1);
      rawResume.push(r3 - r2);
      await p.kill();
    }
    say(`one child at a time (median of 5): ${ms(median(apiOne))} through the API, ${ms(median(rawOne))} for the same steps on the hypervisor layer (the engine adds ${ms(median(apiOne) - median(rawOne))}); of those steps, state load + resume ${ms(median(rawLoadResume))}, resume alone ${ms(median(rawResume))}`);

    // With children pre-started (warm_count): request to running for k children when k wait
    // ready, so the request only resumes each (its state is loaded ahead); the children are removed after.
    const preStarted = async (count: number): Promise<{ ms: number; pss: number }> => {
      await client.parents.update(parent.id, { warm_count: count });
      await waitWarm(client, parent.id, count);
      // Pre-started means waiting idle: let the last ones finish settling, as they would have long before a real request.
      await new Promise((r) => setTimeout(r, 2000));
      if (process.env.CLONEFLEET_BENCH_LOG) console.log(`before ${count} pre-started: load ${(await fs.readFile("/proc/loadavg", "utf8")).trim()}, ${(await run("pgrep", ["-c", "qemu-system"]).catch(() => ({ stdout: "0" }))).stdout.trim()} QEMU processes`);
      const w0 = performance.now();
      const wj = await client.parents.clone(parent.id, { count, name_prefix: `pre${count}-${Math.round(w0)}` });
      const kids = ((await client.waitJob(wj.id, { timeoutMs: 600_000 })).result as InstantCloneResultWire).children;
      const took = performance.now() - w0;
      await client.parents.update(parent.id, { warm_count: 0 });
      await new Promise((r) => setTimeout(r, 1000));
      const pss = median((await Promise.all(kids.map((k) => memoryOf(k.pid!)))).map((m) => m.pss));
      await mapBounded(kids, 8, (k) => client.vms.delete(k.id));
      return { ms: took, pss };
    };
    const preOne: number[] = [];
    for (let i = 0; i < 5; i++) preOne.push((await preStarted(1)).ms);
    say(`one pre-started child (median of 5): ${ms(median(preOne))} through the API, ${(median(apiOne) / median(preOne)).toFixed(1)}x sooner than one started on request`);

    const rows: Row[] = [];
    for (const count of o.counts) {
      if (count === 0) continue;
      // Instant clones through the API: request to every child running.
      const t0 = performance.now();
      const job = await client.parents.clone(parent.id, { count, name_prefix: `ic${count}` });
      const result = (await client.waitJob(job.id, { timeoutMs: 600_000 })).result as InstantCloneResultWire;
      const instantMs = performance.now() - t0;
      if (process.env.CLONEFLEET_BENCH_LOG) {
        const j = (await client.jobs.get(job.id))!;
        console.log(`job timeline: created ${j.created_at}, started ${j.started_at}, finished ${j.finished_at}`);
      }
      result.children.forEach((c) => started.push(c.id));
      await new Promise((r) => setTimeout(r, 1000));

      const mems = await Promise.all(result.children.map((c) => memoryOf(c.pid!)));
      let coldMs: number | null = null;
      let restoreMs: number | null = null;
      let rmems: { pss: number }[] = [];
      if (count <= o.compareMax) {
      // Cold starts through the API: as many VMs (linked overlays made beforehand), started as concurrently.
      const cold: VmWire[] = [];
      for (const batch of chunk(Array.from({ length: count }, (_, i) => i), 16)) {
        const jobs = await Promise.all(batch.map((i) => client.vms.create({ name: `cold${count}-${i + 1}`, template_id: tpl.id, clone_mode: "linked" })));
        for (const j of jobs) cold.push((await client.waitJob(j.id)).result as VmWire);
      }
      const c0 = performance.now();
      await mapBounded(cold, 8, (v) => client.vms.start(v.id));
      coldMs = performance.now() - c0;
      cold.forEach((v) => started.push(v.id));

      // Restores from the full state file, anonymous RAM, as concurrently.
      await fs.mkdir(path.join(dir, "restore"), { recursive: true });
      for (let i = 0; i < count; i++) await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", parent.disk_path, "-F", "qcow2", path.join(dir, "restore", `disk-${i}.qcow2`)]);
      const r0 = performance.now();
      const outcomes = await mapBounded(
        Array.from({ length: count }, (_, i) => i),
        8,
        async (i) => {
          const p = await QemuProcess.start(restoreSpec(i), { stateFile: fullState });
          restored.push(p);
          await p.loadStartState({ ignoreShared: false });
          await p.resume();
          return p;
        },
      );
      restoreMs = performance.now() - r0;
      const failed = outcomes.find((x) => x.status === "rejected");
      if (failed) throw (failed as PromiseRejectedResult).reason;
      await new Promise((r) => setTimeout(r, 1000));
      rmems = await Promise.all(restored.map((p) => memoryOf(p.pid)));
      }

      rows.push({
        count,
        instantMs,
        instantChildMedianMs: median(result.children.map((c) => c.ready_ms)),
        coldMs,
        restoreMs,
        childPss: median(mems.map((m) => m.pss)),
        childRss: median(mems.map((m) => m.rss)),
        restorePss: rmems.length ? median(rmems.map((m) => m.pss)) : null,
        preStartedMs: null,
        preStartedPss: null,
      });
      say(
        `${String(count).padStart(3)} at once: instant clones ${ms(instantMs)} (median child ready ${ms(rows[rows.length - 1].instantChildMedianMs)} into the job), ` +
          `cold starts ${ms(coldMs)}, full-state restores ${ms(restoreMs)}; PSS per child ${mib(rows[rows.length - 1].childPss)} (RSS ${mib(rows[rows.length - 1].childRss)}) vs ${mib(rows[rows.length - 1].restorePss)} per restored VM`,
      );
      // Tear this round down before the next, so rounds do not crowd each other.
      await mapBounded([...started], 8, (id) => client.vms.delete(id));
      started.length = 0;
      await mapBounded(restored.splice(0), 8, (p) => p.kill());
      await fs.rm(path.join(dir, "restore"), { recursive: true, force: true });
      if (count <= MAX_WARM_CHILDREN) {
        const row = rows[rows.length - 1];
        const pre = await preStarted(count);
        row.preStartedMs = pre.ms;
        row.preStartedPss = pre.pss;
        say(`${String(count).padStart(3)} at once, pre-started: ${ms(pre.ms)} (${(row.instantMs / pre.ms).toFixed(1)}x sooner than started on request); PSS per child ${mib(pre.pss)}`);
      }
    }

    let guest: { coldMs: number; cloneMs: number; preStartedMs: number } | null = null;
    const built = o.guest ? await builtGuest() : { ok: false as const, reason: "--no-guest" };
    if (built.ok) {
      const g = built.guest;
      const gj = await client.templates.import({ name: "linux", datastore_id: ds.id, source_path: g.rootDisk, memory_mb: 256, vcpus: 1, kernel: g.kernel, initrd: g.initrd, cmdline: g.cmdline });
      const gt = (await client.waitJob(gj.id)).result as { id: string };
      const vj = await client.vms.create({ name: "linux-src", template_id: gt.id, clone_mode: "linked" });
      const gv = (await client.waitJob(vj.id)).result as VmWire;
      const b0 = performance.now();
      const on = await client.vms.start(gv.id, { accel: "tcg" });
      await agentAnswers(on.state_dir!, 180_000);
      const coldMs = performance.now() - b0;
      const gp = await client.parents.create({ source_vm_id: gv.id, name: "linux-parent" });
      const lp = (await client.waitJob(gp.id)).result as ParentWire;
      const c0 = performance.now();
      const cj = await client.parents.clone(lp.id, { count: 1, name_prefix: "linux-kid" });
      const kid = ((await client.waitJob(cj.id)).result as InstantCloneResultWire).children[0];
      await agentAnswers(kid.state_dir!, 30_000);
      const cloneMs = performance.now() - c0;
      await client.parents.update(lp.id, { warm_count: 1 });
      await waitWarm(client, lp.id, 1);
      await new Promise((r) => setTimeout(r, 300));
      const p0 = performance.now();
      const pj2 = await client.parents.clone(lp.id, { count: 1, name_prefix: "linux-pre" });
      const pre = ((await client.waitJob(pj2.id)).result as InstantCloneResultWire).children[0];
      await agentAnswers(pre.state_dir!, 30_000);
      const preStartedMs = performance.now() - p0;
      await client.parents.update(lp.id, { warm_count: 0 });
      guest = { coldMs, cloneMs, preStartedMs };
      say(
        `Linux test guest (TCG): cold boot to agent answering ${ms(coldMs)}; instant clone request to agent answering ${ms(cloneMs)} (${(coldMs / cloneMs).toFixed(1)}x sooner), ` +
          `${ms(preStartedMs)} with the child pre-started (${(coldMs / preStartedMs).toFixed(1)}x sooner)`,
      );
      await client.vms.delete(pre.id);
      await client.vms.delete(kid.id);
      await client.parents.delete(lp.id);
      await client.vms.delete(gv.id);
    } else {
      say(`Linux test guest skipped: ${built.reason}`);
    }

    if (o.json) {
      console.log(JSON.stringify({ memoryMb: o.memoryMb, fillMib: o.fillMib, accel: parent.accel, oneChildApiMs: median(apiOne), oneChildHypervisorMs: median(rawOne), hypervisorLoadResumeMs: median(rawLoadResume), hypervisorResumeMs: median(rawResume), oneChildPreStartedMs: median(preOne), rows, guest }, null, 2));
    } else {
      say("");
      say("count  instant(API)  pre-started(API)  cold start(API)  full restore  cold/instant  restore/instant  PSS/child  PSS/restored");
      for (const r of rows) {
        say(
          `${String(r.count).padStart(5)}  ${ms(r.instantMs).padStart(12)}  ${(r.preStartedMs === null ? "-" : ms(r.preStartedMs)).padStart(16)}  ${ms(r.coldMs).padStart(15)}  ${ms(r.restoreMs).padStart(12)}  ${times(r.coldMs, r.instantMs).padStart(12)}  ${times(r.restoreMs, r.instantMs).padStart(15)}  ${mib(r.childPss).padStart(9)}  ${mib(r.restorePss).padStart(12)}`,
        );
      }
      say("targets (2 cores, through the API): 1 clone < 100 ms; 64 < 3 s in total; < 20 MiB PSS per idle child; Linux clone answering < 150 ms and >= 10x sooner than its cold boot");
    }
    await client.parents.delete(parent.id).catch(() => undefined);
  } finally {
    await mapBounded(started, 8, (id) => client.vms.delete(id).catch(() => undefined));
    await mapBounded(restored, 8, (p) => p.kill().catch(() => undefined));
    for (const d of await fs.readdir(path.join(dir, "state", "vms")).catch(() => [] as string[])) {
      const probe = await probeVm(path.join(dir, "state", "vms", d)).catch(() => null);
      if (probe?.state === "running") process.kill(-probe.pid, "SIGKILL");
    }
    await engine.close();
    await fs.rm(engine.runner.settings.parentTmpfsDir!, { recursive: true, force: true });
    if (!o.keep && !o.dir) await fs.rm(dir, { recursive: true, force: true });
  }
}

async function waitWarm(client: ClonefleetClient, parentId: string, n: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const p = await client.parents.get(parentId);
    if (p && p.warm_ready >= n) return;
    if (p?.warm_error) throw new Error(`pre-starting children of ${parentId} failed: ${p.warm_error}`);
    if (Date.now() > deadline) throw new Error(`${n} pre-started children of ${parentId} not ready after 300 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
