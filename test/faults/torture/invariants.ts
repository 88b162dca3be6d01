import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { ClonefleetClient, JobWire, VmWire } from "../../../engine/client";
import { defaultParentTmpfsDir, ramFolderOf } from "../../../engine/ops";
import { filesUnder } from "../../support/files";
import { cleanCheck, mismatches, withQmp } from "../../snapshots/helpers";
import { isAlive, qemuProcessesUnder } from "./processes";
import { TEMPLATE_MARK, type Mark, type TrialWorld } from "./world";

/** One broken invariant: which check found it and what was left. */
export interface Violation {
  check: string;
  detail: string;
}

/** What the campaign saw just before the SIGKILL. */
export interface KillSnapshot {
  job: JobWire | null;
  runningJobIds: string[];
  /** VMs whose QEMU ran when the job was submitted, by id, with their pid. */
  runningVms: Map<string, number>;
}

/** The VMs whose QEMU runs now, by id, with their pid (read before the job is submitted). */
export async function runningVmsOf(client: ClonefleetClient): Promise<Map<string, number>> {
  const vms = await client.vms.list();
  return new Map(vms.filter((v) => v.power_state === "running" && v.pid).map((v) => [v.id, v.pid!]));
}

/** Reads the job just before the kill: one request, so the kill follows within milliseconds. */
export async function snapshotBeforeKill(client: ClonefleetClient, jobId: string | null, runningVms: Map<string, number>): Promise<KillSnapshot> {
  const job = jobId ? await client.jobs.get(jobId) : null;
  return { job, runningJobIds: job?.state === "running" ? [job.id] : [], runningVms };
}

/** Jobs that ran at the kill and still read `running` once the restarted engine (which recovers before it serves) answers. */
export async function jobsLeftRunning(client: ClonefleetClient, atKill: KillSnapshot): Promise<Violation[]> {
  const now = await client.jobs.list({ state: "running" });
  return now
    .filter((j) => atKill.runningJobIds.includes(j.id) && (j.host_id ?? "local") === "local")
    .map((j) => ({ check: "job left running", detail: `${j.kind} ${j.id} still running after recovery (${j.progress.message ?? "no message"})` }));
}

interface Owned {
  owner: string;
  qcow2: boolean;
  /** False for a file the engine keeps without listing it, and remakes when absent. */
  required: boolean;
}

/**
 * Checks the inventory against the files and processes once the restarted engine has settled:
 * every listed file exists and every listed disk passes `qemu-img check`; no file under a
 * datastore's clonefleet/ folder lacks a record; running VMs run (pid alive, QMP `running`),
 * VMs that ran at the kill still run; each disk reads back the marks written before the job;
 * no VM state folder, guest or parent RAM file or QEMU process is left without its VM or parent;
 * a backup target exists exactly when its job succeeded; a delete that succeeded left neither
 * its records nor its files; a datastore still listed keeps its engine folder, and the user's
 * files stay.
 */
export async function checkInventory(w: TrialWorld, atKill: KillSnapshot, finalJob: JobWire | null): Promise<Violation[]> {
  const client = w.a.client;
  const out: Violation[] = [];
  const add = (check: string, detail: string) => out.push({ check, detail });
  const [templates, vms, replicas, parents, pools, fleets, datastores] = await Promise.all([
    client.templates.list(),
    client.vms.list(),
    client.replicas.list(),
    client.parents.list(),
    client.pools.list(),
    client.fleets.list(),
    client.datastores.list(),
  ]);
  const snapshots = (await Promise.all(vms.map((v) => client.snapshots.list(v.id)))).flat();

  const owned = new Map<string, Owned>();
  const own = (file: string, owner: string, qcow2 = true, required = true) => {
    if (!owned.has(file)) owned.set(file, { owner, qcow2, required });
  };
  for (const t of templates) own(t.disk_path, `template ${t.id}`);
  for (const p of pools) for (const c of p.copies) own(c.path, `pool ${p.id} copy`);
  for (const v of vms) for (const l of v.disk_chain) own(l, `vm ${v.name} (${v.id})`);
  for (const s of snapshots) for (const l of s.frozen_chain) own(l, `snapshot ${s.name} of ${s.vm_id}`);
  for (const r of replicas) for (const l of r.chain) own(l.path, `replica ${r.id}`);
  for (const p of parents) {
    for (const l of p.disk_chain) own(l, `parent ${p.name}`);
    own(p.ram_path, `parent ${p.name} RAM`, false);
    own(p.device_state_path, `parent ${p.name} device state`, false);
    // The empty overlay a parent keeps for its children (unlisted; a clone request makes one when it is missing).
    own(path.join(path.dirname(p.device_state_path), "child-overlay.qcow2"), `parent ${p.name} child overlay`, true, false);
  }

  for (const [file, o] of owned) {
    const present = await fs.stat(file).then(() => true, () => false);
    if (!present && o.required) add("missing file", `${file} (${o.owner}) is listed but absent`);
    else if (present && o.qcow2 && !(await cleanCheck(file))) add("qemu-img check", `${file} (${o.owner}) is not clean`);
  }
  for (const ds of [w.ds1, w.ds2]) {
    for (const f of await filesUnder(path.join(ds.path, "clonefleet"))) {
      if (path.basename(f) !== "catalog.json" && !owned.has(f)) add("orphan file", `${f} is named by no record`);
    }
  }

  await checkVms(w, atKill, vms, add);
  await checkData(w, vms, parents, add);
  for (const s of snapshots) {
    const first = (w.marks.get(s.vm_id) ?? [])[0];
    await expectMarks(s.frozen_disk_path, [TEMPLATE_MARK, ...(first ? [first] : [])], `snapshot ${s.name} of ${s.vm_id}`, add);
  }
  for (const r of replicas) {
    const source = vms.find((v) => v.id === w.staged.vm?.id && w.staged.vm.disk_path === r.source_disk_path);
    await expectMarks(r.disk_path, [TEMPLATE_MARK, ...(source ? (w.marks.get(source.id) ?? []) : [])], `replica ${r.id}`, add);
  }
  for (const t of templates) await expectMarks(t.disk_path, [TEMPLATE_MARK], `template ${t.name}`, add);
  for (const p of pools) for (const c of p.copies) await expectMarks(c.path, [TEMPLATE_MARK], `pool ${p.id} copy`, add);
  if (w.backupTarget) await checkBackup(w, finalJob, add);
  await checkStateFolders(w, vms, add);
  await checkRamFiles(w, vms, parents, add);
  const listed = new Set([...templates, ...vms, ...replicas, ...parents, ...pools, ...fleets, ...datastores].map((r) => r.id));
  await checkRemoval(w, finalJob, listed, add);
  for (const ds of [w.ds1, w.ds2]) {
    const engineFolder = path.join(ds.path, "clonefleet");
    if (listed.has(ds.id) && !(await exists(engineFolder))) add("missing file", `datastore ${ds.id} is listed but its folder ${engineFolder} is absent`);
    if (!listed.has(ds.id) && !w.removal.ids.has(ds.id)) add("record lost", `datastore ${ds.id} (${ds.path}) is no longer listed`);
  }
  for (const f of w.userFiles) if (!(await exists(f))) add("user file lost", `${f}, the user's own file, is gone`);
  return out;
}

const exists = (file: string): Promise<boolean> => fs.lstat(file).then(() => true, () => false);

/** Once a delete succeeded, none of the records it removes is listed and none of its files outside the datastores' engine folders is left. */
async function checkRemoval(w: TrialWorld, finalJob: JobWire | null, listed: Set<string>, add: (c: string, d: string) => void): Promise<void> {
  if (finalJob?.state !== "succeeded") return;
  for (const id of w.removal.ids) if (listed.has(id)) add("record left", `${finalJob.kind} ${finalJob.id} succeeded but ${id} is still listed`);
  for (const f of w.removal.files) if (await exists(f)) add("file left", `${finalJob.kind} ${finalJob.id} succeeded but left ${f}`);
}

/** Every guest RAM file on the tmpfs is some VM's (its state folder's \`ram\` link names it), and every parent RAM folder some parent's. */
async function checkRamFiles(w: TrialWorld, vms: VmWire[], parents: { name: string; ram_path: string }[], add: (c: string, d: string) => void): Promise<void> {
  for (const root of [path.join(w.stateDir, "vms"), path.join(w.stateDir, "hosts", "b", "vms")]) {
    const folder = ramFolderOf(root);
    const files = (await fs.readdir(folder).catch(() => [] as string[])).filter((f) => f.endsWith(".ram"));
    if (files.length === 0) continue;
    const linked = new Set(await Promise.all(vms.filter((v) => v.state_dir).map((v) => fs.readlink(path.join(v.state_dir!, "ram")).catch(() => ""))));
    for (const f of files) if (!linked.has(path.join(folder, f))) add("orphan file", `guest RAM file ${path.join(folder, f)} belongs to no VM`);
  }
  const parentRam = defaultParentTmpfsDir(w.stateDir);
  const named = new Set(parents.map((p) => path.dirname(p.ram_path)));
  for (const entry of await fs.readdir(parentRam).catch(() => [] as string[])) {
    const dir = path.join(parentRam, entry);
    if ((await fs.stat(dir)).isDirectory() && !named.has(dir)) add("orphan file", `parent RAM folder ${dir} belongs to no parent`);
  }
}

async function checkVms(w: TrialWorld, atKill: KillSnapshot, vms: VmWire[], add: (c: string, d: string) => void): Promise<void> {
  for (const [id, pid] of atKill.runningVms) {
    const v = vms.find((x) => x.id === id);
    // A VM the job deletes may be gone, or stopped when the delete was undone after its QEMU stopped.
    if (w.removal.ids.has(id)) continue;
    if (!v) add("VM lost", `VM ${id} ran (pid ${pid}) at the kill and is no longer listed`);
    else if (v.power_state !== "running" && !w.stoppedByJob.has(id)) add("VM not reattached", `VM ${v.name} ran (pid ${pid}) at the kill and now reads ${v.power_state}${v.crashed ? " (crashed)" : ""}`);
  }
  for (const v of vms) {
    if (v.crashed) add("VM crashed", `VM ${v.name} reads crashed: its QEMU died without clonefleet stopping it`);
    if (v.power_state !== "running") continue;
    if (!v.pid || !isAlive(v.pid)) {
      add("VM not reattached", `VM ${v.name} reads running with pid ${v.pid}, which is not alive`);
      continue;
    }
    const status = await withQmp(v.state_dir!, async (q) => (await q.execute("query-status")).status).catch((e: Error) => `unreachable (${e.message})`);
    if (status !== "running") add("VM not reattached", `VM ${v.name} reads running but QMP says ${status}`);
  }
}

/** Every VM reads the template's data, its own marks, and those of the VM it was forked or instant-cloned from. */
async function checkData(w: TrialWorld, vms: VmWire[], parents: { id: string; source_vm_id: string }[], add: (c: string, d: string) => void): Promise<void> {
  for (const v of vms) {
    const inherited = v.forked_from ?? parents.find((p) => p.id === v.instant_clone_of)?.source_vm_id ?? null;
    const marks = [TEMPLATE_MARK, ...(w.marks.get(v.id) ?? []), ...(inherited ? (w.marks.get(inherited) ?? []).slice(0, 1) : [])];
    const what = `VM ${v.name} (${v.id}) on host ${v.host_id}`;
    if (v.power_state === "running" && v.state_dir) {
      // A paused QEMU has flushed its caches, so a reader from outside sees every write.
      const paused = await withQmp(v.state_dir, (q) => q.execute("stop")).then(() => true, () => false);
      try {
        await expectMarks(v.disk_path, marks, what, add);
      } finally {
        if (paused) await withQmp(v.state_dir, (q) => q.execute("cont")).catch(() => undefined);
      }
    } else await expectMarks(v.disk_path, marks, what, add);
  }
}

async function expectMarks(top: string, marks: Mark[], what: string, add: (c: string, d: string) => void): Promise<void> {
  const bad = await mismatches(top, new Map(marks.map((m) => [m.offset, m.pattern])));
  if (bad.length > 0) add("data lost", `${what}: ${top} does not read back the data written at offsets ${bad.join(", ")}`);
}

async function checkBackup(w: TrialWorld, finalJob: JobWire | null, add: (c: string, d: string) => void): Promise<void> {
  const target = w.backupTarget!;
  const dir = path.dirname(target);
  const present = await fs.stat(target).then(() => true, () => false);
  if (finalJob?.state === "succeeded") {
    if (!present) add("missing file", `the backup succeeded but ${target} is absent`);
    else {
      if (!(await cleanCheck(target))) add("qemu-img check", `backup ${target} is not clean`);
      await expectMarks(target, [TEMPLATE_MARK, ...(w.marks.get(w.staged.vm!.id) ?? [])], "the backup", add);
    }
  } else if (present) add("orphan file", `the backup ended ${finalJob?.state} but left ${target}`);
  for (const f of await fs.readdir(dir)) if (path.join(dir, f) !== target) add("orphan file", `${path.join(dir, f)} left in the backup folder`);
}

/** VM state folders belong to a VM of that host, and no QEMU process runs that no running VM's record names. */
async function checkStateFolders(w: TrialWorld, vms: VmWire[], add: (c: string, d: string) => void): Promise<void> {
  const roots: [string, string][] = [
    ["local", path.join(w.stateDir, "vms")],
    ["b", path.join(w.stateDir, "hosts", "b", "vms")],
  ];
  for (const [host, root] of roots) {
    for (const entry of await fs.readdir(root).catch(() => [] as string[])) {
      if (!vms.some((v) => v.id === entry && v.host_id === host)) add("orphan state folder", `${path.join(root, entry)} belongs to no VM on host ${host}`);
    }
  }
  const pids = new Set(vms.filter((v) => v.power_state === "running").map((v) => v.pid));
  for (const p of await qemuProcessesUnder(w.dir)) {
    if (!pids.has(p.pid)) add("stray process", `${p.program} pid ${p.pid} runs on the trial's files but no running VM names it`);
  }
}
