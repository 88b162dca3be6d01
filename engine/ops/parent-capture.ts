/**
 * Capturing an instant-clone parent from a running VM (S3): the VM is paused, its device state
 * saved with `x-ignore-shared` (its RAM already lives in the shared file `<state>/ram`), the RAM
 * file handed to the parent (a rename, or a sparse copy to another filesystem), its top disk
 * layer moved into the parent's folder and frozen, and the VM given a new overlay on it and
 * stopped. Children start from it in instant-clone.ts; parent-lifecycle.ts keeps it after.
 */
import { execFile } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { createOverlay, newContentId } from "../disk";
import { conflict, internal, invalidField, isEngineError, notFound } from "../errors";
import { QemuProcess, probeVm, qemuVersion, saveState, stateFiles, type VmSpec } from "../hypervisor";
import { DEFAULT_PARENT_TMPFS_DIR, JOB_KINDS, nameProblem, newId, nowIso, type ParentRamLocation } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import { throwIfCancelled, type OpContext } from "./context";
import { removeFromDatastore } from "./datastore-removal";
import { faultHold } from "./fault-hold";
import { ensurePrivateFolders, ramFileOf, removeRamFile } from "./guest-ram";
import { parentFiles, parentTmpfsLevels, ramLocationProblem, warmCountProblem, type ParentFiles } from "./instant-clone-plan";
import { getParentView, removeParentRamDir, type ParentView } from "./parent-lifecycle";
import { getVmView } from "./vm-view";
import { livePid, machineOf, powerOff, withVmLock } from "./vm-power";

const execFileP = promisify(execFile);

/** The job kind that makes a parent from a running VM. */
export const CREATE_PARENT_KIND = JOB_KINDS.createParent;

/** A request to capture a running VM as an instant-clone parent. */
export interface CreateParentRequest {
  sourceVmId: string;
  name: string;
  /** Where the RAM file goes; the engine's setting when absent. */
  ramLocation?: ParentRamLocation | null;
  /** Children each host keeps pre-started (default 0). */
  warmCount?: number;
}

/** What a parent capture is about to do, recorded before any file is touched. */
interface CreateParentIntent {
  parentId: string;
  sourceVmId: string;
  files: ParentFiles;
  sourceStateDir: string;
  /** The file that holds the source's RAM (the target of its state folder's `ram` link). */
  sourceRam: string;
  topLayerId: string;
  topPath: string;
  sourceNewLayerId: string;
  sourceNewPath: string;
}

/** Refuses a name a parent has or a queued or running capture will take. */
export async function admitParentName(store: Inventory, name: string): Promise<void> {
  const existing = await store.parents.findByName(name);
  if (existing) throw conflict(`an instant-clone parent named ${JSON.stringify(name)} already exists (${existing.id})`, "name");
  const pending = (await store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === CREATE_PARENT_KIND && (j.request as CreateParentRequest).name === name);
  if (pending) throw conflict(`parent ${JSON.stringify(name)} is being made by job ${pending.id}`, "name");
}

/**
 * Refuses a capture that cannot be done, touching nothing: unknown or drifted VM, a VM that is
 * not running, an instant clone, a VM with snapshots, a bad name or RAM location. 4xx naming the field.
 */
export async function checkParentCreate(store: Inventory, req: CreateParentRequest, opts: { admitName?: boolean } = {}): Promise<void> {
  // `admitName: false` (the job's own run) skips the checks against queued and running jobs.
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  if (req.ramLocation !== undefined && req.ramLocation !== null) {
    const issue = ramLocationProblem(req.ramLocation);
    if (issue) throw invalidField("ram_location", issue);
  }
  if (req.warmCount !== undefined) {
    const issue = warmCountProblem(req.warmCount);
    if (issue) throw invalidField("warm_count", issue);
  }
  const vm = await store.vms.get(req.sourceVmId);
  if (!vm) throw notFound("vm", req.sourceVmId, "source_vm_id");
  if ((await getVmView(store, vm.id)).state === "drifted") throw conflict(`VM ${vm.name} is drifted (its disk vanished); it cannot become a parent`, "source_vm_id");
  if (livePid(vm.stateDir) === null) throw conflict(`VM ${vm.name} (${vm.id}) is not running; a parent is captured from a running VM (start it first)`, "source_vm_id");
  if (!runsOnOwnRamFile(vm.stateDir!)) {
    const why = vm.instantCloneOf ? `an instant clone of ${vm.instantCloneOf} running on its parent's RAM file (a private copy-on-write map)` : "running without a shared RAM file of its own";
    throw conflict(`VM ${vm.name} is ${why}; stop and start it, then capture it`, "source_vm_id");
  }
  const snaps = await store.snapshots.list({ vmId: vm.id });
  if (snaps.length > 0) throw conflict(`VM ${vm.name} has snapshots (${snaps.map((s) => s.name).join(", ")}); delete them before capturing it as a parent`, "source_vm_id");
  const top = await store.layers.get(vm.diskLayerId);
  if (!top) throw conflict(`VM ${vm.name} has no disk layer record`, "source_vm_id");
  const backed = (await store.layers.list({ datastoreId: top.datastoreId })).filter((l) => l.backingPath === top.path);
  if (backed.length > 0) throw conflict(`VM ${vm.name}'s disk backs other disks (${backed.map((l) => l.path).join(", ")}); it cannot be frozen`, "source_vm_id");
  // The job itself runs the checks again without these two: it would find itself.
  if (opts.admitName === false) return;
  const busy = (await store.jobs.list({ states: ["queued", "running"] }))
    .find((j) => j.kind === CREATE_PARENT_KIND && (j.request as CreateParentRequest).sourceVmId === vm.id);
  if (busy) throw conflict(`VM ${vm.name} is being captured by job ${busy.id}`, "source_vm_id");
  await admitParentName(store, req.name);
}

/** True when the QEMU of `stateDir` keeps guest RAM in a shared file of its own, read from its process record. */
function runsOnOwnRamFile(stateDir: string): boolean {
  try {
    const record = JSON.parse(readFileSync(stateFiles(stateDir).specFile, "utf8")) as { spec?: VmSpec };
    const mem = record.spec?.memoryFile;
    return mem !== undefined && mem.share && path.dirname(mem.path) === stateDir && record.spec?.identity !== undefined;
  } catch {
    return false;
  }
}

async function exists(f: string): Promise<boolean> {
  return fs.access(f).then(
    () => true,
    () => false,
  );
}

/** Hands the RAM file to the parent: a rename on the same filesystem, else a sparse copy (pages never touched stay holes). */
async function handOverRam(src: string, dst: string): Promise<"renamed" | "copied"> {
  try {
    await fs.rename(src, dst);
    return "renamed";
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
  }
  const part = `${dst}.part`;
  await execFileP("cp", ["--sparse=always", "--reflink=auto", src, part]);
  await fs.rename(part, dst);
  return "copied";
}

/**
 * Captures running VM `sourceVmId` as a parent (see the file comment). The source VM ends
 * stopped, on a new overlay of the parent's frozen layer, and can be started again (a cold
 * boot) or deleted. On failure nothing of the parent stays and the source runs on. Throws
 * 404/409 EngineErrors for a bad request, 500 naming the failed step otherwise.
 */
export async function createParent(ctx: OpContext, req: CreateParentRequest): Promise<ParentView> {
  return withVmLock(req.sourceVmId, () => createParentLocked(ctx, req));
}

async function createParentLocked(ctx: OpContext, req: CreateParentRequest): Promise<ParentView> {
  await checkParentCreate(ctx.store, req, { admitName: false });
  const vm = (await ctx.store.vms.get(req.sourceVmId))!;
  const top = (await ctx.store.layers.get(vm.diskLayerId))!;
  const ds = await ctx.store.datastores.get(vm.datastoreId);
  if (!ds) throw conflict(`VM ${vm.name}'s datastore is gone`, "source_vm_id");
  const ramLocation = req.ramLocation ?? ctx.settings.parentRamLocation ?? "tmpfs";
  const parentId = newId("parent");
  const files = parentFiles({ datastoreRoot: ds.path, tmpfsDir: ctx.settings.parentTmpfsDir ?? DEFAULT_PARENT_TMPFS_DIR, parentId, ramLocation });
  const intent: CreateParentIntent = {
    parentId,
    sourceVmId: vm.id,
    files,
    sourceStateDir: vm.stateDir!,
    sourceRam: await ramFileOf(vm.stateDir!),
    topLayerId: top.id,
    topPath: top.path,
    sourceNewLayerId: newId("layer"),
    sourceNewPath: path.join(vm.homeDir, `disk-${newContentId().slice(0, 12)}.qcow2`),
  };
  await ctx.recordIntent(intent);
  ctx.progress({ unit: "steps", done: 0, total: 3, message: "pausing the source VM" });
  const proc = await QemuProcess.reattach(vm.stateDir!, { timeoutMs: 5000 }).catch((err: unknown) => {
    throw internal(`connecting to VM ${vm.name}'s QEMU`, err);
  });
  const spec = proc.spec;
  if (!spec.memoryFile?.share || spec.identity === undefined) {
    await proc.detach();
    throw conflict(`VM ${vm.name} runs without a shared RAM file or an identity (started by an older engine); stop and start it, then capture it`, "source_vm_id");
  }
  const machine = await machineOf(ctx.store, vm);
  let committed = false;
  try {
    await fs.mkdir(files.dir, { recursive: true });
    if (files.ramDir === files.dir) await fs.mkdir(files.ramDir, { recursive: true, mode: 0o700 });
    else {
      const tmpfsDir = path.dirname(files.ramDir);
      const levels = parentTmpfsLevels(tmpfsDir);
      // Above the levels the engine owns, the folders are the administrator's (or /dev/shm).
      await fs.mkdir(path.dirname(levels[0]), { recursive: true });
      await ensurePrivateFolders([...levels, files.ramDir]);
    }
    // `stop` drains and flushes every image, so the disk is consistent with the saved state.
    await proc.pause();
    const saved = await saveState(proc.qmp, files.deviceState, { ignoreShared: true, signal: ctx.signal });
    ctx.progress({ done: 1, message: "handing the RAM file and the disk to the parent" });
    await faultHold(ctx, "CLONEFLEET_FAULT_PARENT_HOLD", "after-state");
    const how = await handOverRam(intent.sourceRam, files.ram);
    // The source QEMU keeps its open file; the rename only moves the name.
    await fs.rename(top.path, files.disk);
    await createOverlay(intent.sourceNewPath, { backingPath: files.disk, sizeBytes: top.virtualSizeBytes });
    await createOverlay(files.childOverlay, { backingPath: files.disk, sizeBytes: top.virtualSizeBytes });
    await faultHold(ctx, "CLONEFLEET_FAULT_PARENT_HOLD", "before-commit");
    throwIfCancelled(ctx);
    const version = await qemuVersion();
    await ctx.store.tx(async (s) => {
      const taken = await s.parents.findByName(req.name);
      if (taken) throw conflict(`an instant-clone parent named ${JSON.stringify(req.name)} already exists (${taken.id})`, "name");
      await s.parents.insert({
        id: parentId,
        name: req.name,
        sourceVmId: vm.id,
        datastoreId: ds.id,
        diskLayerId: top.id,
        ramPath: files.ram,
        ramLocation,
        deviceStatePath: files.deviceState,
        memoryBytes: spec.memoryMb * 1024 * 1024,
        machine,
        machineType: spec.machine ?? "q35",
        accel: spec.accel,
        qemuVersion: version.version,
        state: "ready",
        warmCount: req.warmCount ?? 0,
        createdAt: nowIso(),
      });
      await s.layers.transfer(top.id, { path: files.disk, ownerKind: "parent", ownerId: parentId });
      await s.layers.insert({
        id: intent.sourceNewLayerId,
        datastoreId: ds.id,
        path: intent.sourceNewPath,
        format: "qcow2",
        virtualSizeBytes: top.virtualSizeBytes,
        contentId: newContentId(),
        parentContentId: top.contentId,
        backingPath: files.disk,
        ownerKind: "vm",
        ownerId: vm.id,
        state: "ready",
        createdAt: nowIso(),
      });
      await s.vms.update(vm.id, { diskLayerId: intent.sourceNewLayerId, powerState: "stopped", pid: null, crashed: false });
    });
    committed = true;
    ctx.progress({ done: 2, message: "stopping the source VM" });
    await faultHold(ctx, "CLONEFLEET_FAULT_PARENT_HOLD", "after-commit");
    // Its state is saved and its RAM handed over: the old process can go the fast way.
    await proc.kill();
    // The link, and the source file too when the RAM had to be copied to another filesystem.
    await removeRamFile(intent.sourceStateDir);
    await syncCatalog(ctx.store, ds.id);
    ctx.progress({ done: 3, message: "captured" });
    ctx.log.info({ parentId, sourceVmId: vm.id, ramLocation, stateBytes: saved.sizeBytes, saveMs: saved.durationMs, ram: how }, "instant-clone parent made");
    return getParentView(ctx.store, parentId);
  } catch (err) {
    if (!committed) {
      await undoParent(ctx, intent).catch((e: unknown) => ctx.log.error({ err: e, parentId }, "undoing a failed capture failed"));
      await resumeSource(ctx, intent).catch((e: unknown) => ctx.log.error({ err: e, vmId: vm.id }, "could not resume the source VM after a failed capture"));
    }
    await proc.detach().catch(() => undefined);
    if (isEngineError(err)) throw err;
    throw internal(`capturing VM ${vm.name} as an instant-clone parent`, err);
  }
}

/** Puts back what an uncommitted capture moved (RAM file, top layer) and removes what it made. Idempotent. */
async function undoParent(ctx: OpContext, i: CreateParentIntent): Promise<void> {
  if ((await exists(i.files.ram)) && !(await exists(i.sourceRam))) await fs.rename(i.files.ram, i.sourceRam).catch(() => fs.rm(i.files.ram, { force: true }));
  if ((await exists(i.files.disk)) && !(await exists(i.topPath))) await fs.rename(i.files.disk, i.topPath);
  await fs.rm(i.sourceNewPath, { force: true });
  await removeFromDatastore(ctx.store, i.files.dir);
  if (i.files.ramDir !== i.files.dir) await removeParentRamDir(ctx, i.files.ramDir);
  const vm = await ctx.store.vms.get(i.sourceVmId);
  if (vm) await syncCatalog(ctx.store, vm.datastoreId);
}

/** Lets a source VM the capture paused run on (a save the crash cut short is cancelled first). */
async function resumeSource(ctx: OpContext, i: CreateParentIntent): Promise<void> {
  if ((await probeVm(i.sourceStateDir).catch(() => null))?.state !== "running") {
    await ctx.store.tx(async (s) => ((await s.vms.get(i.sourceVmId)) ? await s.vms.update(i.sourceVmId, { powerState: "stopped", pid: null, crashed: true }) : undefined));
    return;
  }
  const proc = await QemuProcess.reattach(i.sourceStateDir, { timeoutMs: 5000 });
  try {
    const status = await proc.status();
    if (status === "finish-migrate") await proc.qmp.execute("migrate_cancel").catch(() => undefined);
    if (status !== "running") await proc.resume();
  } finally {
    await proc.detach();
  }
}

/**
 * After a crash during a capture: a parent recorded is finished (the source's old QEMU is
 * stopped); otherwise the RAM file and top layer go back to the source, everything the
 * capture made is removed, and the source VM runs on.
 */
export async function recoverParentCreate(ctx: OpContext, intent: unknown): Promise<{ finished: ParentView | null }> {
  const i = intent as CreateParentIntent | null;
  if (!i) return { finished: null };
  if (await ctx.store.parents.get(i.parentId)) {
    await powerOff(i.sourceStateDir, 0);
    await ctx.store.tx(async (s) => ((await s.vms.get(i.sourceVmId)) ? await s.vms.update(i.sourceVmId, { powerState: "stopped", pid: null, crashed: false }) : undefined));
    return { finished: await getParentView(ctx.store, i.parentId) };
  }
  await undoParent(ctx, i);
  await resumeSource(ctx, i);
  return { finished: null };
}
