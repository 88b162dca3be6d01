import { randomBytes } from "node:crypto";
import { promises as fs, readFileSync } from "node:fs";
import * as path from "node:path";
import type { FleetApplyWire, JobWire, ParentWire, SnapshotWire, VmWire } from "../../../engine/client";
import { DISK_SIZE_MB, makeVm, writeSpan, type TrialWorld } from "./world";

/** What a trial submitted: the job to follow, or (for a pool fill, which is no job) the pool. */
export interface Submitted {
  jobId: string | null;
  poolId: string | null;
}

/**
 * One kind of work the campaign kills the engine in: what it needs first (`setup`, not timed),
 * the request (`submit`), and about how long the work takes with the campaign's copy rate
 * limit, the span the kill is drawn from.
 */
export interface Scenario {
  kind: string;
  /** Needs host `b` (a second engine on the same state folder). */
  twoHosts: boolean;
  expectedMs: number;
  setup(w: TrialWorld): Promise<void>;
  submit(w: TrialWorld): Promise<Submitted>;
}

const job = (jobId: string): Submitted => ({ jobId, poolId: null });

async function wait(w: TrialWorld, jobId: string): Promise<unknown> {
  return (await w.a.client.waitJob(jobId, { timeoutMs: 120_000 })).result;
}

async function runningVm(w: TrialWorld): Promise<void> {
  w.staged.vm = await makeVm(w, "src", true);
}

async function poolReady(w: TrialWorld, size: number): Promise<string> {
  const pool = await w.a.client.pools.create({ template_id: w.templateId, datastore_id: w.ds1.id, size });
  await w.a.client.waitPoolReady(pool.id, { timeoutMs: 120_000 });
  return pool.id;
}

/** Fills part of the guest's RAM file with random bytes, so a bandwidth-capped migration stream lasts seconds. */
async function dirtyRam(vm: VmWire, mb: number): Promise<void> {
  const ram = await fs.open(path.join(vm.state_dir!, "ram"), "r+");
  try {
    const chunk = randomBytes(1024 * 1024);
    for (let i = 0; i < mb; i++) await ram.write(chunk, 0, chunk.length, 16 * 1024 * 1024 + i * chunk.length);
  } finally {
    await ram.close();
  }
}

const nothing = async (): Promise<void> => {};

/**
 * Sends `DELETE urlPath` asking for the job (`Prefer: respond-async`, 202) instead of the 204
 * once it is done, so the kill can land while it runs; the client's delete waits for the end.
 */
async function deleteAsJob(w: TrialWorld, urlPath: string): Promise<Submitted> {
  const token = readFileSync(path.join(w.stateDir, "token"), "utf8").trim();
  const res = await fetch(`${w.a.url}${urlPath}`, { method: "DELETE", headers: { authorization: `Bearer ${token}`, prefer: "respond-async" } });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`DELETE ${urlPath} answered ${res.status}: ${text}`);
  return job((JSON.parse(text) as JobWire).id);
}

/** A delete of the record `id` at `urlPath`: what must be gone once it succeeded. */
function deleting(w: TrialWorld, id: string, urlPath: string, files: string[] = []): Promise<Submitted> {
  w.removal.ids.add(id);
  w.removal.files.push(...files);
  return deleteAsJob(w, urlPath);
}

/** Makes an instant-clone parent of a running VM (the VM stays stopped, as a capture leaves it). */
async function parentOfRunningVm(w: TrialWorld): Promise<ParentWire> {
  await runningVm(w);
  w.stoppedByJob.add(w.staged.vm!.id);
  const parent = (await wait(w, (await w.a.client.parents.create({ source_vm_id: w.staged.vm!.id, name: "p" })).id)) as ParentWire;
  w.staged.parentId = parent.id;
  return parent;
}

/** Deletes of every record that owns files or processes; the spans are the jobs' measured run times (tens of ms) with some slack. */
const DELETES: readonly Scenario[] = [
  {
    kind: "vm-delete",
    twoHosts: false,
    expectedMs: 150,
    setup: runningVm,
    submit: (w) => deleting(w, w.staged.vm!.id, `/vms/${w.staged.vm!.id}`),
  },
  {
    kind: "template-delete",
    twoHosts: false,
    expectedMs: 30,
    setup: nothing,
    submit: (w) => deleting(w, w.templateId, `/templates/${w.templateId}`),
  },
  {
    kind: "datastore-delete",
    twoHosts: false,
    expectedMs: 20,
    setup: async (w) => {
      // The user's own file beside the engine's folder: removing the datastore must leave it.
      const mine = path.join(w.ds2.path, "notes.txt");
      await fs.writeFile(mine, "mine\n");
      w.userFiles.push(mine);
    },
    submit: (w) => deleting(w, w.ds2.id, `/datastores/${w.ds2.id}`, [path.join(w.ds2.path, "clonefleet")]),
  },
  {
    kind: "pool-delete",
    twoHosts: false,
    expectedMs: 40,
    setup: async (w) => {
      w.staged.poolId = await poolReady(w, 2);
    },
    submit: (w) => deleting(w, w.staged.poolId!, `/pools/${w.staged.poolId!}`),
  },
  {
    kind: "replica-delete",
    twoHosts: false,
    expectedMs: 50,
    setup: async (w) => {
      w.staged.vm = await makeVm(w, "src", false);
      const replica = (await wait(w, (await w.a.client.replicas.create({ source_disk_path: w.staged.vm.disk_path, target_datastore_id: w.ds2.id })).id)) as { id: string };
      w.staged.replicaId = replica.id;
    },
    submit: (w) => deleting(w, w.staged.replicaId!, `/replicas/${w.staged.replicaId!}`),
  },
  {
    kind: "parent-delete",
    twoHosts: false,
    expectedMs: 80,
    setup: async (w) => {
      await parentOfRunningVm(w);
    },
    submit: async (w) => {
      const p = (await w.a.client.parents.get(w.staged.parentId!))!;
      return deleting(w, p.id, `/parents/${p.id}`, [p.ram_path, p.device_state_path]);
    },
  },
  {
    kind: "fleet-delete",
    twoHosts: false,
    expectedMs: 150,
    setup: async (w) => {
      const apply = (await wait(
        w,
        (await w.a.client.fleets.create({ template_id: w.templateId, size: 2, datastore_ids: [w.ds1.id], name_prefix: "f", clone_mode: "linked", power_state: "running" })).id,
      )) as FleetApplyWire;
      w.staged.fleetId = apply.fleet.id;
      for (const m of apply.added) w.removal.ids.add(m.id);
    },
    submit: (w) => deleting(w, w.staged.fleetId!, `/fleets/${w.staged.fleetId!}`),
  },
];

function fleet(mode: "pool" | "full" | "linked", expectedMs: number): Scenario {
  return {
    kind: `fleet-${mode}`,
    twoHosts: false,
    expectedMs,
    setup: async (w) => {
      if (mode === "pool") await poolReady(w, 2);
    },
    submit: async (w) => job((await w.a.client.fleets.create({ template_id: w.templateId, size: 2, datastore_ids: [w.ds1.id], name_prefix: "f", clone_mode: mode })).id),
  };
}

function migration(withStorage: boolean): Scenario {
  return {
    kind: withStorage ? "migrate-storage" : "migrate",
    twoHosts: true,
    expectedMs: withStorage ? 6000 : 4000,
    setup: async (w) => {
      await runningVm(w);
      await dirtyRam(w.staged.vm!, 6);
    },
    submit: async (w) =>
      job(
        (
          await w.a.client.vms.migrate(w.staged.vm!.id, {
            host_id: "b",
            max_bandwidth_bytes_per_sec: 2 * 1024 * 1024,
            ...(withStorage ? { target_datastore_id: w.ds2.id } : {}),
          })
        ).id,
      ),
  };
}

function consolidation(live: boolean): Scenario {
  return {
    kind: live ? "consolidate-live" : "consolidate-offline",
    twoHosts: false,
    expectedMs: live ? 1500 : 300,
    setup: async (w) => {
      await runningVm(w);
      const s = w.staged;
      s.snapshot = (await wait(w, (await w.a.client.snapshots.create(s.vm!.id, { name: "s1" })).id)) as SnapshotWire;
      // Written after the snapshot: the consolidation merges it down. Over 16 MiB, QEMU's
      // mirror buffer, so the speed cap holds the live commit for seconds.
      let vm = (await w.a.client.vms.get(s.vm!.id))!;
      if (!live) vm = await w.a.client.vms.stop(vm.id, { timeout_seconds: 0 });
      await writeSpan(w, vm, 1, DISK_SIZE_MB - 2);
    },
    submit: async (w) => job((await w.a.client.snapshots.delete(w.staged.snapshot!.id, live ? { speedBytesPerSec: 4 * 1024 * 1024 } : {})).id),
  };
}

/** Every kind of work the campaign knows, by name (`--kinds`). */
export const SCENARIOS: readonly Scenario[] = [
  {
    kind: "import",
    twoHosts: false,
    expectedMs: 2000,
    setup: nothing,
    submit: async (w) => job((await w.a.client.templates.import({ name: "imported", datastore_id: w.ds1.id, source_path: path.join(path.dirname(w.dir), "source.raw"), memory_mb: 64, vcpus: 1 })).id),
  },
  {
    kind: "pool-fill",
    twoHosts: false,
    expectedMs: 3000,
    setup: nothing,
    submit: async (w) => ({ jobId: null, poolId: (await w.a.client.pools.create({ template_id: w.templateId, datastore_id: w.ds1.id, size: 2 })).id }),
  },
  fleet("pool", 20),
  fleet("full", 4000),
  fleet("linked", 60),
  {
    kind: "vm-create",
    twoHosts: false,
    expectedMs: 2000,
    setup: nothing,
    submit: async (w) => job((await w.a.client.vms.create({ name: "made", template_id: w.templateId, clone_mode: "full" })).id),
  },
  {
    kind: "fork",
    twoHosts: false,
    expectedMs: 700,
    setup: runningVm,
    submit: async (w) => job((await w.a.client.vms.fork(w.staged.vm!.id, { name: "child" })).id),
  },
  {
    kind: "instant-clone",
    twoHosts: false,
    expectedMs: 200,
    setup: async (w) => {
      await runningVm(w);
      const parent = (await wait(w, (await w.a.client.parents.create({ source_vm_id: w.staged.vm!.id, name: "p" })).id)) as { id: string };
      w.staged.parentId = parent.id;
    },
    submit: async (w) => job((await w.a.client.parents.clone(w.staged.parentId!, { count: 2, name_prefix: "ic" })).id),
  },
  {
    kind: "capture",
    twoHosts: false,
    expectedMs: 120,
    setup: runningVm,
    submit: async (w) => {
      w.stoppedByJob.add(w.staged.vm!.id);
      return job((await w.a.client.parents.create({ source_vm_id: w.staged.vm!.id, name: "p" })).id);
    },
  },
  {
    kind: "snapshot",
    twoHosts: false,
    expectedMs: 60,
    setup: runningVm,
    submit: async (w) => job((await w.a.client.snapshots.create(w.staged.vm!.id, { name: "s1" })).id),
  },
  consolidation(true),
  consolidation(false),
  {
    kind: "backup",
    twoHosts: false,
    expectedMs: 2500,
    setup: runningVm,
    submit: async (w) => {
      const dir = path.join(w.ds1.path, "backups");
      await fs.mkdir(dir, { recursive: true });
      w.backupTarget = path.join(dir, "src.qcow2");
      return job((await w.a.client.vms.backup(w.staged.vm!.id, { target_path: w.backupTarget })).id);
    },
  },
  {
    kind: "replica",
    twoHosts: false,
    expectedMs: 2500,
    setup: async (w) => {
      w.staged.vm = await makeVm(w, "src", false);
    },
    submit: async (w) => job((await w.a.client.replicas.create({ source_disk_path: w.staged.vm!.disk_path, target_datastore_id: w.ds2.id })).id),
  },
  migration(false),
  migration(true),
  ...DELETES,
];

/** The scenarios named in `kinds` (all when empty); throws naming an unknown kind. */
export function scenariosFor(kinds: readonly string[]): Scenario[] {
  if (kinds.length === 0) return [...SCENARIOS];
  return kinds.map((k) => {
    const s = SCENARIOS.find((x) => x.kind === k);
    if (!s) throw new Error(`--kinds: unknown kind ${JSON.stringify(k)} (known: ${SCENARIOS.map((x) => x.kind).join(", ")})`);
    return s;
  });
}
