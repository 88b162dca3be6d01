/**
 * VM fork (S5) with fork disk inheritance (S2). The parent is stunned (`stop`), its disks
 * are laid out so the child's delta never depends on a layer the parent still writes, its
 * device state is saved and its shared RAM file copied, it resumes, and the child starts
 * from that checkpoint. Chains stay flat: a child of a delta gets a copy of that delta on the
 * same base; a child of a base gets an overlay on it, frozen, and the parent a new overlay.
 */
import { execFile } from "node:child_process";
import { promises as fs, constants as fsc } from "node:fs";
import { promisify } from "node:util";
import * as path from "node:path";
import { createOverlay, newContentId, vmDir, vmDiskPath } from "../disk";
import { conflict, internal, invalidField, isEngineError, notFound } from "../errors";
import { QemuProcess, loadState, probeVm, saveState } from "../hypervisor";
import { JOB_KINDS, nameProblem, newId, nowIso, type DiskLayer, type Vm } from "../model";
import type { Store } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { checkHostId } from "./pool";
import { getVmView, type VmView } from "./vm";
import { RAM_FILE, livePid, machineOf, powerOff, vmSpecOf, vmStateDir, withVmLock } from "./vm-power";

const execFileP = promisify(execFile);

/** The job kind that forks a VM. */
export const FORK_VM_KIND = JOB_KINDS.forkVm;

/** Name of the checkpoint file in the child's state folder. */
const FORK_STATE_FILE = "fork.state";

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
  /** For a frozen base: the parent's new overlay and its layer id. */
  parentNewLayerId: string | null;
  parentNewPath: string | null;
  parentWasRunning: boolean;
}

/** Refuses a fork request that cannot be done, touching nothing; 4xx naming the field. */
export function checkForkRequest(store: Store, req: ForkVmRequest, opts: { admitName?: boolean } = {}): void {
  const parent = store.getVm(req.parentId);
  if (!parent) throw notFound("vm", req.parentId, "id");
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  checkHostId(req.hostId);
  if (getVmView(store, parent.id).state === "drifted") throw conflict(`VM ${parent.name} is drifted (its disk vanished); it cannot be forked`, "id");
  // A running instant clone maps its parent's RAM file privately: it has no RAM file of its own to copy.
  if (parent.instantCloneOf && livePid(parent.stateDir) !== null) {
    throw conflict(`VM ${parent.name} is a running instant clone of ${parent.instantCloneOf}: its RAM is a private map of the parent's file; stop and start it, then fork it`, "id");
  }
  if (opts.admitName !== false) admitForkName(store, req.name);
}

/** Refuses a name a VM has or a queued or running creation or fork will take. */
export function admitForkName(store: Store, name: string): void {
  const existing = store.findVmByName(name);
  if (existing) throw conflict(`a VM named ${JSON.stringify(name)} already exists (${existing.id})`, "name");
  const pending = store
    .listJobs({ states: ["queued", "running"] })
    .find((j) => (j.kind === FORK_VM_KIND || j.kind === JOB_KINDS.createVm) && (j.request as { name?: string }).name === name);
  if (pending) throw conflict(`VM ${JSON.stringify(name)} is being made by job ${pending.id}`, "name");
}

async function faultHold(ctx: OpContext, step: string): Promise<void> {
  // Fault injection for the crash tests: park the fork at a named step until the engine dies.
  if (process.env.CLONEFLEET_FAULT_FORK_HOLD !== step) return;
  ctx.progress({ message: `fault hold: ${step}` });
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
}

/**
 * Copies a guest RAM file during the stun, its data extents only: pages the guest never
 * touched are holes in the file, and skipping them (SEEK_DATA, as `cp --sparse=always` does)
 * makes the copy cost what the guest uses rather than its memory size.
 */
async function copyRamFile(src: string, dst: string): Promise<void> {
  await execFileP("cp", ["--sparse=always", "--reflink=auto", src, dst]);
}

async function copyLayer(src: string, dst: string): Promise<void> {
  const tmp = `${dst}.part`;
  await fs.copyFile(src, tmp, fsc.COPYFILE_FICLONE);
  await fs.rename(tmp, dst);
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
  const parent = ctx.store.getVm(req.parentId);
  if (!parent) throw notFound("vm", req.parentId, "id");
  const top = ctx.store.getLayer(parent.diskLayerId);
  if (!top) throw conflict(`VM ${parent.name} has no disk layer record`, "id");
  const ds = ctx.store.getDatastore(parent.datastoreId);
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
    parentNewLayerId: frozen ? newId("layer") : null,
    parentNewPath: frozen ? path.join(parent.homeDir, `disk-${newContentId().slice(0, 12)}.qcow2`) : null,
    parentWasRunning: running,
  };
  ctx.recordIntent(intent);
  ctx.progress({ unit: "steps", done: 0, total: 3, message: running ? "stunning the parent" : "forking the disks" });
  const machine = machineOf(ctx.store, parent);
  let parentStunMs: number | null = null;
  let childReadyMs: number | null = null;
  let committed = false;
  let proc: QemuProcess | null = null;
  let stunned = false;
  let t0 = 0;
  try {
    await fs.mkdir(intent.childHome, { recursive: true });
    await fs.mkdir(intent.childStateDir, { recursive: true, mode: 0o700 });
    if (running) {
      proc = await QemuProcess.reattach(parent.stateDir!, { timeoutMs: 5000 });
      t0 = performance.now();
      // `stop` drains and flushes every image, so the files are consistent while the vCPUs stand.
      await proc.pause();
      stunned = true;
    }
    if (frozen) {
      // Both overlays are made without opening the base (-u), so the parent's lock on it is no
      // obstacle. A running parent moves onto its overlay by a restore from the checkpoint (below):
      // a live blockdev-snapshot-sync followed by the state save leaves QEMU 7.2 unable to take
      // its write locks back on `cont` ("Failed to get write lock").
      await createOverlay(intent.parentNewPath!, { backingPath: top.path, sizeBytes: top.virtualSizeBytes });
      await createOverlay(intent.childDisk, { backingPath: top.path, sizeBytes: top.virtualSizeBytes });
    } else {
      // The parent's delta, copied whole, already names the parent's base as its backing file.
      await copyLayer(top.path, intent.childDisk);
    }
    await faultHold(ctx, "after-disks");
    commitFork(ctx.store, parent, top, intent, machine, req);
    committed = true;
    // A stopped parent has no stun to keep short; a running one syncs the catalog once resumed.
    if (!proc) await syncCatalog(ctx.store, ds.id);
    await faultHold(ctx, "after-commit");
    ctx.progress({ done: 1, message: running ? "saving the parent's state" : "disks forked" });
    if (proc) {
      const stateFile = path.join(intent.childStateDir, FORK_STATE_FILE);
      // The RAM lives in the shared file: the stream holds the device state only (~10 ms).
      await saveState(proc.qmp, stateFile, { ignoreShared: true, signal: ctx.signal });
      await copyRamFile(path.join(parent.stateDir!, RAM_FILE), path.join(intent.childStateDir, RAM_FILE));
      if (frozen) {
        // The parent resumes from the same checkpoint on its new overlay; its RAM file stays.
        // Its state is saved and its RAM is in the shared file (page cache keeps what SIGKILL
        // interrupts), so the old process can go the fast way.
        await proc.kill();
        proc = null;
        await faultHold(ctx, "parent-down");
        const moved = await restoreFromState(ctx, ctx.store.getVm(parent.id)!, parent.stateDir!, stateFile, parent.accel ?? "tcg", req.keepPaused === true);
        ctx.store.tx((s) => s.updateVm(parent.id, { pid: moved }));
      } else {
        if (!req.keepPaused) await proc.resume();
        await proc.detach();
        proc = null;
      }
      stunned = false;
      parentStunMs = round(performance.now() - t0);
      await syncCatalog(ctx.store, ds.id);
      ctx.progress({ done: 2, message: "starting the child" });
      const child = ctx.store.getVm(childId)!;
      const accel = parent.accel ?? "tcg";
      const childPid = await restoreFromState(ctx, child, intent.childStateDir, stateFile, accel, req.keepPaused === true);
      await fs.rm(stateFile, { force: true });
      childReadyMs = round(performance.now() - t0);
      ctx.store.tx((s) => s.updateVm(childId, { powerState: "running", pid: childPid, accel, stunMs: parentStunMs }));
    }
    ctx.progress({ done: 3, message: "forked" });
  } catch (err) {
    if (proc) {
      if (stunned && !req.keepPaused) await proc.resume().catch(() => undefined);
      await proc.detach().catch(() => undefined);
    }
    if (running) await reviveParent(ctx, intent, req).catch((e: unknown) => ctx.log.error({ err: e, vmId: parent.id }, "could not bring the parent back after a failed fork"));
    await undoChild(ctx, intent, committed);
    if (isEngineError(err)) throw err;
    throw internal(`forking VM ${parent.name}`, err);
  }
  const view = getVmView(ctx.store, childId);
  ctx.log.info({ parentId: parent.id, childId, parentStunMs, childReadyMs, layout: frozen ? "frozen-base" : "copied-delta" }, "VM forked");
  return { ...view, parentStunMs, childReadyMs, layout: frozen ? "frozen-base" : "copied-delta" };
}

/** Starts `vm`'s QEMU waiting for its state, loads the checkpoint, resumes it unless asked not to; returns the pid. Kills it on failure. */
async function restoreFromState(ctx: OpContext, vm: Vm, stateDir: string, stateFile: string, accel: "kvm" | "tcg", keepPaused: boolean): Promise<number> {
  const p = await QemuProcess.start(vmSpecOf(ctx.store, vm, stateDir, accel, { incoming: "defer" }), { signal: ctx.signal });
  try {
    await loadState(p.qmp, stateFile, { ignoreShared: true, signal: ctx.signal });
    if (!keepPaused) await p.resume();
  } catch (err) {
    await p.kill().catch(() => undefined);
    throw err;
  }
  await p.detach();
  return p.pid;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function commitFork(store: Store, parent: Vm, top: DiskLayer, i: ForkIntent, machine: ReturnType<typeof machineOf>, req: ForkVmRequest): void {
  const now = nowIso();
  store.tx((s) => {
    const taken = s.findVmByName(req.name);
    if (taken) throw conflict(`a VM named ${JSON.stringify(req.name)} already exists (${taken.id})`, "name");
    const base = top.backingPath ? s.findLayerByPath(top.backingPath) : top;
    s.insertLayer({
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
      s.insertLayer({
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
      s.updateVm(parent.id, { diskLayerId: i.parentNewLayerId });
    }
    s.insertVm({
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
    });
  });
}

/**
 * Brings a parent the fork stunned back: a live parent is resumed (a migration the crash cut
 * short is cancelled first); a parent whose QEMU went down to move onto its new overlay is
 * restored from the checkpoint (or cold-started when there is none) on the chain its record names.
 */
async function reviveParent(ctx: OpContext, i: ForkIntent, req: ForkVmRequest): Promise<void> {
  const parent = ctx.store.getVm(i.parentId);
  if (!parent?.stateDir) return;
  if ((await probeVm(parent.stateDir).catch(() => null))?.state === "running") {
    const proc = await QemuProcess.reattach(parent.stateDir, { timeoutMs: 5000 });
    try {
      const status = await proc.status();
      if (status === "finish-migrate" || status === "inmigrate") await proc.qmp.execute("migrate_cancel").catch(() => undefined);
      if (!req.keepPaused && status !== "running") await proc.resume();
    } finally {
      await proc.detach();
    }
    return;
  }
  const stateFile = path.join(i.childStateDir, FORK_STATE_FILE);
  const accel = parent.accel ?? "tcg";
  const pid = await fs.access(stateFile).then(
    () => restoreFromState(ctx, parent, parent.stateDir!, stateFile, accel, req.keepPaused === true),
    async () => {
      const p = await QemuProcess.start(vmSpecOf(ctx.store, parent, parent.stateDir!, accel));
      await p.detach();
      return p.pid;
    },
  );
  ctx.store.tx((s) => s.updateVm(parent.id, { powerState: "running", pid, crashed: false }));
  ctx.log.warn({ vmId: parent.id }, "the fork left the parent down; it was brought back");
}

/** Removes a child that did not come to life: its QEMU, records (when committed) and files. */
async function undoChild(ctx: OpContext, i: ForkIntent, committed: boolean): Promise<void> {
  await powerOff(i.childStateDir, 0).catch(() => undefined);
  if (committed || ctx.store.getVm(i.childId)) {
    ctx.store.tx((s) => {
      if (s.getVm(i.childId)) s.deleteVm(i.childId);
      if (s.getLayer(i.childLayerId)) s.deleteLayer(i.childLayerId);
    });
  }
  await fs.rm(i.childHome, { recursive: true, force: true });
  await fs.rm(i.childStateDir, { recursive: true, force: true });
  // The parent's new overlay stays only when the records name it (the parent may be on it).
  if (i.parentNewPath && !ctx.store.findLayerByPath(i.parentNewPath)) await fs.rm(i.parentNewPath, { force: true });
  const parent = ctx.store.getVm(i.parentId);
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
  const child = ctx.store.getVm(i.childId);
  if (child && (!i.parentWasRunning || livePid(i.childStateDir) !== null)) {
    if (i.parentWasRunning) {
      const cproc = await QemuProcess.reattach(i.childStateDir, { timeoutMs: 5000 });
      try {
        if (!req.keepPaused && (await cproc.status()) === "paused") await cproc.resume();
        ctx.store.tx((s) => s.updateVm(child.id, { powerState: "running", pid: cproc.pid }));
      } finally {
        await cproc.detach();
      }
    }
    return { finished: { ...getVmView(ctx.store, child.id), parentStunMs: null, childReadyMs: null, layout: i.parentNewPath ? "frozen-base" : "copied-delta" } };
  }
  await undoChild(ctx, i, Boolean(child));
  return { finished: null };
}
