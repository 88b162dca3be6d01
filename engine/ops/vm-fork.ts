/**
 * VM fork (S5) with fork disk inheritance (S2). A running parent is live-migrated into the
 * child's QEMU over a local socket, so its RAM is copied while it runs; QEMU stops it only for
 * the last dirty pages and the device state, and pauses the migration there
 * (`pause-before-switchover`): during that stun the disks are laid out so the child's delta
 * never depends on a layer the parent still writes, the migration finishes, and the parent
 * resumes (`cont`) while the child runs on. Chains stay flat: a child of a delta gets a copy of
 * that delta on the same base; a child of a base gets an overlay on it, frozen, and the
 * parent, live, a new overlay.
 */
import { promises as fs, constants as fsc } from "node:fs";
import * as path from "node:path";
import { copyFileRestricted, createOverlay, newContentId, vmDir, vmDiskPath } from "../disk";
import { conflict, internal, invalidField, isEngineError, notFound } from "../errors";
import { MigrationError, QemuProcess, nodeOfFile, probeVm, setMigrationCapabilities, setMigrationParameters, waitForMigration, type VmSpec } from "../hypervisor";
import { JOB_KINDS, nameProblem, newId, nowIso, type DiskLayer, type Vm } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { checkHostId } from "./pool";
import { getVmView, type VmView } from "./vm-view";
import { prepareRamFile } from "./guest-ram";
import { diskLayersOf, livePid, machineOf, powerOff, removeVmStateDir, vmSpecOf, vmStateDir, withVmLock } from "./vm-power";
import { removeFromDatastore } from "./datastore-removal";


/** The job kind that forks a VM. */
export const FORK_VM_KIND = JOB_KINDS.forkVm;


/** A request to fork a VM into a new child. */
export interface ForkVmRequest {
  parentId: string;
  name: string;
  /** Must be `local` when given: there is one host. */
  hostId?: string | null;
  /** Leave parent and child paused after the fork (to inspect both at the same instant). */
  keepPaused?: boolean;
}

/** The child, plus what the fork measured. */
export interface ForkVmResult extends VmView {
  /** How long the parent's vCPUs stood still, ms; null when the parent was not running. */
  parentStunMs: number | null;
  /** From the stun to the child running (or paused with `keepPaused`), ms; null for a disk-only fork. */
  childReadyMs: number | null;
  /** `copied-delta`: the child got a copy of the parent's delta on its base; `frozen-base`: the parent's base layer was frozen under two new overlays. */
  layout: "copied-delta" | "frozen-base";
}

/** Every id and path a fork is about to make, recorded before it touches any file. */
interface ForkIntent {
  parentId: string;
  childId: string;
  childLayerId: string;
  childDisk: string;
  childHome: string;
  childStateDir: string;
  /** For a frozen base: the parent's new overlay and its layer id, and the layer it leaves. */
  parentOldLayerId: string;
  parentNewLayerId: string | null;
  parentNewPath: string | null;
  parentWasRunning: boolean;
}

/** Refuses a fork request that cannot be done, touching nothing; 4xx naming the field. */
export async function checkForkRequest(store: Inventory, req: ForkVmRequest, opts: { admitName?: boolean } = {}): Promise<void> {
  const parent = await store.vms.get(req.parentId);
  if (!parent) throw notFound("vm", req.parentId, "id");
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  checkHostId(req.hostId);
  if ((await getVmView(store, parent.id)).state === "drifted") throw conflict(`VM ${parent.name} is drifted (its disk vanished); it cannot be forked`, "id");
  if (opts.admitName !== false) await admitForkName(store, req.name);
}

/** Refuses a name a VM has or a queued or running creation or fork will take. */
export async function admitForkName(store: Inventory, name: string): Promise<void> {
  const existing = await store.vms.findByName(name);
  if (existing) throw conflict(`a VM named ${JSON.stringify(name)} already exists (${existing.id})`, "name");
  const pending = (await store.jobs.list({ states: ["queued", "running"] }))
    .find((j) => (j.kind === FORK_VM_KIND || j.kind === JOB_KINDS.createVm) && (j.request as { name?: string }).name === name);
  if (pending) throw conflict(`VM ${JSON.stringify(name)} is being made by job ${pending.id}`, "name");
}

async function faultHold(ctx: OpContext, step: string): Promise<void> {
  // Fault injection for the crash tests: park the fork at a named step until the engine dies.
  if (process.env.CLONEFLEET_FAULT_FORK_HOLD !== step) return;
  ctx.progress({ message: `fault hold: ${step}` });
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
}

/** Migration bandwidth of a fork: local memory to memory, no reason to throttle. */
const FORK_MAX_BANDWIDTH = 64 * 1024 * 1024 * 1024;

/** The stun QEMU aims for when it decides to stop the parent for the last dirty pages, ms. */
const FORK_DOWNTIME_LIMIT_MS = 50;

/** How long a fork's migration may take before it is abandoned (the parent runs on). */
const FORK_MIGRATION_TIMEOUT_MS = 120_000;

/** Copies a file into an existing one in place (same inode: a QEMU that has it open sees the new content when it re-reads it). */
async function copyInto(src: string, dst: string): Promise<void> {
  await copyFileRestricted(src, dst, fsc.COPYFILE_FICLONE);
}

/**
 * Forks VM `parentId` into a new VM `name` (see the file comment). A stopped parent forks its
 * disks only. On failure nothing of the child stays and the parent runs on. Throws 404/409
 * EngineErrors for a bad request, 500 naming the failed step otherwise.
 */
export async function forkVm(ctx: OpContext, req: ForkVmRequest): Promise<ForkVmResult> {
  return withVmLock(req.parentId, () => forkLocked(ctx, req));
}

async function forkLocked(ctx: OpContext, req: ForkVmRequest): Promise<ForkVmResult> {
  const parent = await ctx.store.vms.get(req.parentId);
  if (!parent) throw notFound("vm", req.parentId, "id");
  const top = await ctx.store.layers.get(parent.diskLayerId);
  if (!top) throw conflict(`VM ${parent.name} has no disk layer record`, "id");
  const ds = await ctx.store.datastores.get(parent.datastoreId);
  if (!ds) throw conflict(`VM ${parent.name}'s datastore is gone`, "id");
  const frozen = top.backingPath === null;
  const running = parent.powerState === "running" && livePid(parent.stateDir) !== null;
  const childId = newId("vm");
  const intent: ForkIntent = {
    parentId: parent.id,
    childId,
    childLayerId: newId("layer"),
    childDisk: vmDiskPath(ds.path, childId),
    childHome: vmDir(ds.path, childId),
    childStateDir: vmStateDir(ctx, childId),
    parentOldLayerId: top.id,
    parentNewLayerId: frozen ? newId("layer") : null,
    parentNewPath: frozen ? path.join(parent.homeDir, `disk-${newContentId().slice(0, 12)}.qcow2`) : null,
    parentWasRunning: running,
  };
  await ctx.recordIntent(intent);
  ctx.progress({ unit: "steps", done: 0, total: 3, message: running ? "stunning the parent" : "forking the disks" });
  const machine = await machineOf(ctx.store, parent);
  let parentStunMs: number | null = null;
  let childReadyMs: number | null = null;
  let committed = false;
  let proc: QemuProcess | null = null;
  let stunned = false;
  let t0 = 0;
  let child: QemuProcess | null = null;
  try {
    await fs.mkdir(intent.childHome, { recursive: true });
    await fs.mkdir(intent.childStateDir, { recursive: true, mode: 0o700 });
    // Every file is made before the stun, without opening the base (-u). For a delta parent
    // the child's disk is a placeholder its QEMU opens now; the delta is copied into it (same
    // inode) during the stun, and QEMU reads the image afresh when the migration hands it over.
    if (frozen) await createOverlay(intent.parentNewPath!, { backingPath: top.path, sizeBytes: top.virtualSizeBytes });
    await createOverlay(intent.childDisk, { backingPath: top.backingPath ?? top.path, sizeBytes: top.virtualSizeBytes });
    if (running) {
      await prepareRamFile(intent.childStateDir);
      child = await QemuProcess.start(await childSpec(ctx.store, parent, req, intent, top, frozen), { signal: ctx.signal });
      proc = await QemuProcess.reattach(parent.stateDir!, { timeoutMs: 5000 });
      t0 = await migrateUntilStunned(proc, child, intent, ctx.signal);
      stunned = true;
    }
    if (!frozen) await copyInto(top.path, intent.childDisk);
    await faultHold(ctx, "after-disks");
    await commitFork(ctx.store, parent, top, intent, machine, req);
    committed = true;
    // A stopped parent has no stun to keep short; a running one syncs the catalog once resumed.
    if (!proc) await syncCatalog(ctx.store, ds.id);
    await faultHold(ctx, "after-commit");
    ctx.progress({ done: 1, message: running ? "handing the state over" : "disks forked" });
    if (proc && child) {
      // The parent moves onto its new overlay in place, so its process lives on: the base is
      // frozen from this instant, the instant whose state the child gets.
      if (frozen) await switchOntoOverlay(proc, top.path, intent.parentNewPath!);
      await faultHold(ctx, "after-switch");
      await finishMigration(proc, child, ctx.signal);
      // Capabilities outlive the migration: a later save of the parent must not pause.
      await setMigrationCapabilities(proc.qmp, { "pause-before-switchover": false });
      // The migration released the parent's images to the child; `cont` takes them back.
      if (!req.keepPaused) await proc.resume();
      stunned = false;
      parentStunMs = round(performance.now() - t0);
      const childPid = child.pid;
      await Promise.all([proc.detach(), child.detach()]);
      proc = null;
      child = null;
      childReadyMs = round(performance.now() - t0);
      const accel = parent.accel ?? "tcg";
      await ctx.store.tx(async (s) => await s.vms.update(childId, { powerState: "running", pid: childPid, accel, stunMs: parentStunMs }));
      await syncCatalog(ctx.store, ds.id);
    }
    ctx.progress({ done: 3, message: "forked" });
  } catch (err) {
    if (proc) {
      await proc.qmp.execute("migrate_cancel").catch(() => undefined);
      await setMigrationCapabilities(proc.qmp, { "pause-before-switchover": false }).catch(() => undefined);
      if (stunned && !req.keepPaused) await proc.resume().catch(() => undefined);
      await proc.detach().catch(() => undefined);
    }
    if (child) await child.kill().catch(() => undefined);
    if (running) await reviveParent(ctx, intent, req).catch((e: unknown) => ctx.log.error({ err: e, vmId: parent.id }, "could not bring the parent back after a failed fork"));
    await undoChild(ctx, intent, committed);
    if (isEngineError(err)) throw err;
    throw internal(`forking VM ${parent.name}`, err);
  }
  const view = await getVmView(ctx.store, childId);
  ctx.log.info({ parentId: parent.id, childId, parentStunMs, childReadyMs, layout: frozen ? "frozen-base" : "copied-delta" }, "VM forked");
  return { ...view, parentStunMs, childReadyMs, layout: frozen ? "frozen-base" : "copied-delta" };
}

/**
 * The child's QEMU: the parent's machine on the child's disk, waiting for the migration. Every
 * layer below its own is opened read-only outright: they are shared (with the parent, or frozen
 * for it), and QEMU 7.2 would otherwise take an auto-read-only layer's write lock when the
 * migration hands the images over.
 */
async function childSpec(store: Inventory, parent: Vm, req: ForkVmRequest, i: ForkIntent, top: DiskLayer, frozen: boolean): Promise<VmSpec> {
  const below = frozen ? [top] : (await diskLayersOf(store, parent)).slice(1);
  return vmSpecOf(store, parent, i.childStateDir, parent.accel ?? "tcg", {
    name: req.name,
    disks: [{ path: i.childDisk, nodeName: "disk0", backingChain: below.map((l) => ({ path: l.path, readOnly: true })) }],
    incoming: "defer",
    startPaused: req.keepPaused === true,
  });
}

/**
 * Starts the live migration of the parent into the child and waits until QEMU has stopped the
 * parent for the switchover (RAM copied but for the last dirty pages); returns the stun's
 * start (performance.now() when the parent's STOP arrived).
 */
async function migrateUntilStunned(parent: QemuProcess, child: QemuProcess, i: ForkIntent, signal: AbortSignal): Promise<number> {
  const uri = `unix:${path.join(i.childStateDir, "fork.sock")}`;
  // Set on both sides: a parent that made templates or was forked before may carry others.
  await setMigrationCapabilities(child.qmp, { events: true, "x-ignore-shared": false, "pause-before-switchover": false });
  await child.qmp.execute("migrate-incoming", { uri });
  await setMigrationCapabilities(parent.qmp, { events: true, "x-ignore-shared": false, "pause-before-switchover": true });
  await setMigrationParameters(parent.qmp, { "max-bandwidth": FORK_MAX_BANDWIDTH, "downtime-limit": FORK_DOWNTIME_LIMIT_MS });
  const stops = parent.qmp.listen("STOP");
  const migration = parent.qmp.listen("MIGRATION");
  let stoppedAt: number | null = null;
  try {
    await parent.qmp.execute("migrate", { uri });
    const deadline = Date.now() + FORK_MIGRATION_TIMEOUT_MS;
    for (;;) {
      const ev = await migration.next({ timeoutMs: Math.max(1, deadline - Date.now()), signal });
      if (stoppedAt === null) stoppedAt = await stops.next({ timeoutMs: 1 }).then(() => performance.now(), () => null);
      const status = ev.data.status;
      if (status === "pre-switchover") return stoppedAt ?? performance.now();
      if (status === "failed" || status === "cancelled" || status === "completed") {
        const info = await parent.qmp.execute("query-migrate");
        throw new MigrationError("migrate", status, info["error-desc"] ?? "the migration ended before the switchover");
      }
    }
  } finally {
    stops.close();
    migration.close();
  }
}

/** Lets the paused migration finish and waits until both sides report it completed. */
async function finishMigration(parent: QemuProcess, child: QemuProcess, signal: AbortSignal): Promise<void> {
  const out = parent.qmp.listen("MIGRATION");
  const into = child.qmp.listen("MIGRATION");
  try {
    await parent.qmp.execute("migrate-continue", { state: "pre-switchover" });
    await Promise.all([
      waitForMigration(parent.qmp, out, { timeoutMs: FORK_MIGRATION_TIMEOUT_MS, signal, step: "migrate", pollMs: 20 }),
      waitForMigration(child.qmp, into, { timeoutMs: FORK_MIGRATION_TIMEOUT_MS, signal, step: "load", pollMs: 20 }),
    ]);
  } finally {
    out.close();
    into.close();
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

async function commitFork(store: Inventory, parent: Vm, top: DiskLayer, i: ForkIntent, machine: Awaited<ReturnType<typeof machineOf>>, req: ForkVmRequest): Promise<void> {
  const now = nowIso();
  await store.tx(async (s) => {
    const taken = await s.vms.findByName(req.name);
    if (taken) throw conflict(`a VM named ${JSON.stringify(req.name)} already exists (${taken.id})`, "name");
    const base = top.backingPath ? await s.layers.findByPath(top.backingPath) : top;
    await s.layers.insert({
      id: i.childLayerId,
      datastoreId: parent.datastoreId,
      path: i.childDisk,
      format: "qcow2",
      virtualSizeBytes: top.virtualSizeBytes,
      contentId: newContentId(),
      parentContentId: base?.contentId ?? null,
      backingPath: top.backingPath ?? top.path,
      ownerKind: "vm",
      ownerId: i.childId,
      state: "ready",
      createdAt: now,
    });
    if (i.parentNewLayerId && i.parentNewPath) {
      await s.layers.insert({
        id: i.parentNewLayerId,
        datastoreId: parent.datastoreId,
        path: i.parentNewPath,
        format: "qcow2",
        virtualSizeBytes: top.virtualSizeBytes,
        contentId: newContentId(),
        parentContentId: top.contentId,
        backingPath: top.path,
        ownerKind: "vm",
        ownerId: parent.id,
        state: "ready",
        createdAt: now,
      });
      await s.vms.update(parent.id, { diskLayerId: i.parentNewLayerId });
    }
    await s.vms.insert({
      id: i.childId,
      name: req.name,
      templateId: null,
      datastoreId: parent.datastoreId,
      diskLayerId: i.childLayerId,
      homeDir: i.childHome,
      provisionedBy: "fork",
      cloneMode: null,
      fleetId: null,
      powerState: "stopped",
      state: "ready",
      createdAt: now,
      accel: parent.accel ?? null,
      accelOverride: parent.accelOverride ?? null,
      stateDir: i.childStateDir,
      forkedFrom: parent.id,
      machine,
      stopTimeoutSeconds: parent.stopTimeoutSeconds ?? null,
      hostId: parent.hostId,
      migrationNotifyTimeoutSeconds: parent.migrationNotifyTimeoutSeconds,
      migrationOnMissingAck: parent.migrationOnMissingAck,
    });
  });
}

/**
 * Moves a running parent from its top layer onto the (empty, existing) overlay `overlay`, live:
 * the old top becomes the overlay's read-only backing node and is frozen from then on.
 */
async function switchOntoOverlay(proc: QemuProcess, topPath: string, overlay: string): Promise<void> {
  const node = await nodeOfFile(proc.qmp, topPath);
  await proc.qmp.execute("blockdev-snapshot-sync", {
    "node-name": node,
    "snapshot-file": overlay,
    // Node names are unique per process; this one is found again through the block graph (nodeOfFile).
    "snapshot-node-name": `fork-${Date.now().toString(36)}`,
    format: "qcow2",
    mode: "existing",
  });
}

/**
 * Brings a parent the fork stunned back: a migration the crash cut short is cancelled, its
 * record is made to name the layer its QEMU really writes (the switch onto the new overlay may
 * not have happened), and it is resumed. A parent whose QEMU is gone is cold-started on the
 * chain its record names.
 */
async function reviveParent(ctx: OpContext, i: ForkIntent, req: ForkVmRequest): Promise<void> {
  const parent = await ctx.store.vms.get(i.parentId);
  if (!parent?.stateDir) return;
  if ((await probeVm(parent.stateDir).catch(() => null))?.state === "running") {
    const proc = await QemuProcess.reattach(parent.stateDir, { timeoutMs: 5000 });
    try {
      const status = await proc.status();
      if (status === "finish-migrate" || status === "inmigrate") await proc.qmp.execute("migrate_cancel").catch(() => undefined);
      await setMigrationCapabilities(proc.qmp, { "pause-before-switchover": false }).catch(() => undefined);
      await alignParentLayer(ctx, proc, i);
      if (!req.keepPaused && status !== "running") await proc.resume();
    } finally {
      await proc.detach();
    }
    return;
  }
  const p = await QemuProcess.start(await vmSpecOf(ctx.store, parent, parent.stateDir, parent.accel ?? "tcg"));
  await p.detach();
  await ctx.store.tx(async (s) => await s.vms.update(parent.id, { powerState: "running", pid: p.pid, crashed: false }));
  ctx.log.warn({ vmId: parent.id }, "the parent's QEMU was gone after a failed fork; it was started again");
}

/**
 * A fork records the parent on its new overlay before it switches the live QEMU onto it; when
 * the switch did not happen, the record goes back to the old top, which stays the parent's.
 */
async function alignParentLayer(ctx: OpContext, proc: QemuProcess, i: ForkIntent): Promise<void> {
  if (!i.parentNewLayerId || !i.parentNewPath) return;
  const onNew = await nodeOfFile(proc.qmp, i.parentNewPath).then(
    () => true,
    () => false,
  );
  if (onNew) return;
  await ctx.store.tx(async (s) => {
    const p = await s.vms.get(i.parentId);
    if (p && p.diskLayerId === i.parentNewLayerId && (await s.layers.get(i.parentOldLayerId))) await s.vms.update(i.parentId, { diskLayerId: i.parentOldLayerId });
    if (await s.layers.get(i.parentNewLayerId!)) await s.layers.delete(i.parentNewLayerId!);
  });
}

/** Removes a child that did not come to life: its QEMU, records (when committed) and files. */
async function undoChild(ctx: OpContext, i: ForkIntent, committed: boolean): Promise<void> {
  await powerOff(i.childStateDir, 0).catch(() => undefined);
  if (committed || (await ctx.store.vms.get(i.childId))) {
    await ctx.store.tx(async (s) => {
      if (await s.vms.get(i.childId)) await s.vms.delete(i.childId);
      if (await s.layers.get(i.childLayerId)) await s.layers.delete(i.childLayerId);
    });
  }
  await removeFromDatastore(ctx.store, i.childHome);
  await removeVmStateDir(ctx, i.childStateDir);
  // The parent's new overlay stays only when the records name it (the parent may be on it).
  if (i.parentNewPath && !(await ctx.store.layers.findByPath(i.parentNewPath))) await fs.rm(i.parentNewPath, { force: true });
  const parent = await ctx.store.vms.get(i.parentId);
  if (parent) await syncCatalog(ctx.store, parent.datastoreId);
}

/**
 * After a crash during a fork: the parent is resumed if the fork left it stunned, and kept on
 * the layer its QEMU writes (the new overlay, if it had switched); a child recorded and
 * running (or a disk-only fork recorded) is finished; anything else of the child is removed.
 */
export async function recoverVmFork(ctx: OpContext, req: ForkVmRequest, intent: unknown): Promise<{ finished: ForkVmResult | null }> {
  const i = intent as ForkIntent | null;
  if (!i) return { finished: null };
  if (i.parentWasRunning) await reviveParent(ctx, i, req);
  const child = await ctx.store.vms.get(i.childId);
  if (child && (!i.parentWasRunning || livePid(i.childStateDir) !== null)) {
    if (i.parentWasRunning) {
      const cproc = await QemuProcess.reattach(i.childStateDir, { timeoutMs: 5000 });
      let whole = false;
      try {
        const status = await cproc.status();
        // A child still waiting for (or in) the migration never got the whole state.
        whole = status === "running" || status === "paused";
        if (whole) {
          if (!req.keepPaused && status === "paused") await cproc.resume();
          await ctx.store.tx(async (s) => await s.vms.update(child.id, { powerState: "running", pid: cproc.pid }));
        }
      } finally {
        await cproc.detach();
      }
      if (whole) return { finished: { ...(await getVmView(ctx.store, child.id)), parentStunMs: null, childReadyMs: null, layout: i.parentNewPath ? "frozen-base" : "copied-delta" } };
    } else {
      return { finished: { ...(await getVmView(ctx.store, child.id)), parentStunMs: null, childReadyMs: null, layout: i.parentNewPath ? "frozen-base" : "copied-delta" } };
    }
  }
  await undoChild(ctx, i, Boolean(child));
  return { finished: null };
}
