import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { SnapshotWire, VmWire } from "../../../engine/client";
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
