/**
 * Instant-clone parents and instant clones (S3). A parent is captured from a running VM: the
 * VM is paused, its device state saved with `x-ignore-shared` (its RAM already lives in the
 * shared file `<state>/ram`), the RAM file handed to the parent (a rename, or a sparse copy to
 * another filesystem), its top disk layer moved into the parent's folder and frozen, and the
 * VM given a new overlay on it and stopped. Children map the RAM file privately
 * (copy-on-write), run on their own overlay of the frozen chain, start with `-incoming defer`,
 * load the device state and continue where the parent was captured — no boot.
 */
import { execFile } from "node:child_process";
import { promises as fs, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { copyFileRestricted, createOverlay, newContentId, partPath, rebase, removeOwnedTree, vmDir, vmDiskPath } from "../disk";
import { conflict, incompatibleParent, internal, invalidField, isEngineError, notFound } from "../errors";
import {
  AGENT_PORT_NAME,
  AccelUnavailableError,
  NOTIFY_PORT_NAME,
  QemuProcess,
  probeVm,
  qemuVersion,
  resolveAccel,
  saveState,
  stateFiles,
  type VmSpec,
} from "../hypervisor";
import {
  DEFAULT_INSTANT_CLONE_CONCURRENCY,
  MAX_INSTANT_CLONES_PER_REQUEST,
  DEFAULT_PARENT_TMPFS_DIR,
  JOB_KINDS,
  nameProblem,
  newId,
  nowIso,
  type DiskLayer,
  type InstantCloneParent,
  type ParentRamLocation,
  type RecordState,
  type Vm,
} from "../model";
import type { Store } from "../store";
import { syncCatalog } from "./catalog-sync";
import { throwIfCancelled, type OpContext } from "./context";
import { cloneCountProblem, instantCloneNames, mapBounded, namePrefixProblem, parentDir, parentFiles, parentTmpfsLevels, ramLocationProblem, warmCountProblem, type ParentFiles } from "./instant-clone-plan";
import { getVmView, type VmView } from "./vm-view";
import { ensurePrivateFolders, privateFolderProblem, ramFileOf, removeRamFile } from "./guest-ram";
import { diskLayersOf, livePid, machineOf, powerOff, removeVmStateDir, vmStateDir, withVmLock } from "./vm-power";
import { removeFromDatastore } from "./datastore-removal";

const execFileP = promisify(execFile);

/** The job kind that makes a parent from a running VM. */
export const CREATE_PARENT_KIND = JOB_KINDS.createParent;
/** The job kind that starts instant clones of a parent. */
export const INSTANT_CLONE_KIND = JOB_KINDS.instantClone;
/** The job kind that deletes a parent once its children are gone (`wait`). */
export const DELETE_PARENT_KIND = JOB_KINDS.deleteParent;

/** A request to capture a running VM as an instant-clone parent. */
export interface CreateParentRequest {
  sourceVmId: string;
  name: string;
  /** Where the RAM file goes; the engine's setting when absent. */
  ramLocation?: ParentRamLocation | null;
  /** Children each host keeps pre-started (default 0). */
  warmCount?: number;
}

/** A change of a parent's settings; absent fields stay. */
export interface UpdateParentRequest {
  id: string;
  warmCount?: number;
}

/**
 * A request for `count` instant clones of a parent, named `<namePrefix>-1`…, or for one child
 * per name in `names` (then `count` is their number and `namePrefix` is empty).
 */
export interface InstantCloneRequest {
  parentId: string;
  count: number;
  namePrefix: string;
  /** Exact child names, instead of a prefix (what a declared single VM needs). */
  names?: string[] | null;
  /** Children started at the same time (default: the engine's setting, 8). */
  concurrency?: number | null;
  /** Leave the children paused with the parent's state loaded (to inspect them at the captured instant). */
  startPaused?: boolean;
}

/** A request to delete a parent; with `wait` it waits until its children are gone. */
export interface DeleteParentRequest {
  id: string;
  wait?: boolean;
}

/** A parent with what users want to see now: its frozen chain, its children and its live state. */
export interface ParentView extends InstantCloneParent {
  diskPath: string;
  /** Paths of the frozen chain, top first. */
  diskChain: string[];
  /** Ids of its instant clones that exist now. */
  childIds: string[];
  /** Bytes of the RAM file actually held on its filesystem (its pages the guest touched). */
  ramFileAllocatedBytes: number | null;
}

/** One child as an instant-clone request reports it. */
export interface InstantCloneChild extends VmView {
  /** From the start of the request's work to this child running, ms. */
  readyMs: number;
  /** From this child's QEMU spawn to it running (state loaded, `cont` done), ms. */
  startMs: number;
}

/** What an instant-clone request did. */
export interface InstantCloneResult {
  parentId: string;
  children: InstantCloneChild[];
  /** From the start of the work to the last child running, ms. */
  totalMs: number;
  concurrency: number;
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

/** One child an instant-clone request is about to make (or a pre-started one, see WarmChildren). */
export interface ChildPlan {
  id: string;
  name: string;
  layerId: string;
  home: string;
  disk: string;
  stateDir: string;
}

/** What an instant-clone request is about to make, recorded before any file is touched. */
interface InstantCloneIntent {
  parentId: string;
  children: ChildPlan[];
  /** An empty overlay this request makes when the parent's own is missing; removed at the end. */
  overlayTemplate: string;
}

/** The empty child overlay a parent keeps beside its frozen layer. */
function childOverlayOf(p: InstantCloneParent): string {
  return path.join(path.dirname(p.deviceStatePath), "child-overlay.qcow2");
}

/**
 * Pre-started children of parents, kept by the engine host (WarmChildren): QEMU up with the
 * child's own overlay and identity and the parent's state loaded, paused. A request takes them
 * before it starts any child of its own, and only resumes them.
 */
export interface WarmChildSource {
  /** Hands over up to `n` pre-started children of a parent; they are the caller's from then on. */
  take(parentId: string, n: number): WarmChild[];
  /** How many pre-started children of a parent are ready on this host. */
  readyCount(parentId: string): number;
  /** Asks for a look at the parents' warm counts soon (after children were taken or a count changed). */
  nudge(): void;
  /** Kills a deleted parent's pre-started children and removes their files, before its datastore can go too. */
  release(parentId: string): Promise<void>;
}

/** A pre-started child: its plan (the name is a placeholder until taken) and its QEMU, connected, paused with the parent's state loaded. */
export interface WarmChild {
  plan: ChildPlan;
  proc: QemuProcess;
  /** The engine folder of the datastore the child's home lies in. */
  engineRoot: string;
}

// ---------------------------------------------------------------------------------------------
// checks

/** Refuses a name a parent has or a queued or running capture will take. */
export function admitParentName(store: Store, name: string): void {
  const existing = store.findParentByName(name);
  if (existing) throw conflict(`an instant-clone parent named ${JSON.stringify(name)} already exists (${existing.id})`, "name");
  const pending = store.listJobs({ states: ["queued", "running"] }).find((j) => j.kind === CREATE_PARENT_KIND && (j.request as CreateParentRequest).name === name);
  if (pending) throw conflict(`parent ${JSON.stringify(name)} is being made by job ${pending.id}`, "name");
}

/**
 * Refuses a capture that cannot be done, touching nothing: unknown or drifted VM, a VM that is
 * not running, an instant clone, a VM with snapshots, a bad name or RAM location. 4xx naming the field.
 */
export function checkParentCreate(store: Store, req: CreateParentRequest, opts: { admitName?: boolean } = {}): void {
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
  const vm = store.getVm(req.sourceVmId);
  if (!vm) throw notFound("vm", req.sourceVmId, "source_vm_id");
  if (getVmView(store, vm.id).state === "drifted") throw conflict(`VM ${vm.name} is drifted (its disk vanished); it cannot become a parent`, "source_vm_id");
  if (livePid(vm.stateDir) === null) throw conflict(`VM ${vm.name} (${vm.id}) is not running; a parent is captured from a running VM (start it first)`, "source_vm_id");
  if (!runsOnOwnRamFile(vm.stateDir!)) {
    const why = vm.instantCloneOf ? `an instant clone of ${vm.instantCloneOf} running on its parent's RAM file (a private copy-on-write map)` : "running without a shared RAM file of its own";
    throw conflict(`VM ${vm.name} is ${why}; stop and start it, then capture it`, "source_vm_id");
  }
  const snaps = store.listSnapshots({ vmId: vm.id });
  if (snaps.length > 0) throw conflict(`VM ${vm.name} has snapshots (${snaps.map((s) => s.name).join(", ")}); delete them before capturing it as a parent`, "source_vm_id");
  const top = store.getLayer(vm.diskLayerId);
  if (!top) throw conflict(`VM ${vm.name} has no disk layer record`, "source_vm_id");
  const backed = store.listLayers({ datastoreId: top.datastoreId }).filter((l) => l.backingPath === top.path);
  if (backed.length > 0) throw conflict(`VM ${vm.name}'s disk backs other disks (${backed.map((l) => l.path).join(", ")}); it cannot be frozen`, "source_vm_id");
  // The job itself runs the checks again without these two: it would find itself.
  if (opts.admitName === false) return;
  const busy = store
    .listJobs({ states: ["queued", "running"] })
    .find((j) => j.kind === CREATE_PARENT_KIND && (j.request as CreateParentRequest).sourceVmId === vm.id);
  if (busy) throw conflict(`VM ${vm.name} is being captured by job ${busy.id}`, "source_vm_id");
  admitParentName(store, req.name);
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

/** Instant-clone jobs queued or running for a parent. */
/** Ids of the queued and running instant-clone jobs of a parent. */
export function pendingCloneJobs(store: Store, parentId: string): string[] {
  return store
    .listJobs({ states: ["queued", "running"] })
    .filter((j) => j.kind === INSTANT_CLONE_KIND && (j.request as InstantCloneRequest).parentId === parentId)
    .map((j) => j.id);
}

/** The names of the children a request makes. */
export function childNamesOf(req: InstantCloneRequest): string[] {
  return req.names ? [...req.names] : instantCloneNames(req.namePrefix, req.count);
}

/** Refuses names a VM has or a queued or running VM-making job will take. */
function admitChildNames(store: Store, names: readonly string[], field: string): void {
  const wanted = new Set(names);
  for (const n of names) {
    const vm = store.findVmByName(n);
    if (vm) throw conflict(`a VM named ${JSON.stringify(n)} already exists (${vm.id}); choose other names`, field);
  }
  for (const j of store.listJobs({ states: ["queued", "running"] })) {
    const r = j.request as { name?: string; namePrefix?: string; count?: number } | null;
    if (!r) continue;
    const theirs = j.kind === INSTANT_CLONE_KIND ? childNamesOf(j.request as InstantCloneRequest) : (j.kind === JOB_KINDS.createVm || j.kind === JOB_KINDS.forkVm) && r.name ? [r.name] : [];
    const clash = theirs.find((n) => wanted.has(n));
    if (clash) throw conflict(`VM ${JSON.stringify(clash)} is being made by job ${j.id}; choose other names`, field);
  }
}

/**
 * Refuses an instant-clone request that cannot be done, touching nothing: unknown or drifted
 * parent, count out of range, a bad or taken name prefix, a bad concurrency. 4xx naming the field.
 */
export function checkInstantClone(store: Store, req: InstantCloneRequest, opts: { admitNames?: boolean } = {}): void {
  const parent = store.getParent(req.parentId);
  if (!parent) throw notFound("instant-clone parent", req.parentId, "id");
  if (req.names !== undefined && req.names !== null) {
    if (!Array.isArray(req.names)) throw invalidField("names", "must be a list of names");
    const countIssue = cloneCountProblem(req.names.length);
    if (countIssue) throw invalidField("names", `must hold between 1 and ${MAX_INSTANT_CLONES_PER_REQUEST} names (got ${req.names.length})`);
    if (req.count !== req.names.length) throw invalidField("count", `must equal the number of names (${req.names.length}) when names are given`);
    if (req.namePrefix) throw invalidField("name_prefix", "give either name_prefix or names, not both");
    const seen = new Set<string>();
    req.names.forEach((n, i) => {
      const issue = nameProblem(n);
      if (issue) throw invalidField(`names[${i}]`, issue);
      if (seen.has(n)) throw invalidField(`names[${i}]`, `${n} is named twice`);
      seen.add(n);
    });
  } else {
    const countIssue = cloneCountProblem(req.count);
    if (countIssue) throw invalidField("count", countIssue);
    const prefixIssue = namePrefixProblem(req.namePrefix, req.count);
    if (prefixIssue) throw invalidField("name_prefix", prefixIssue);
  }
  if (req.concurrency !== undefined && req.concurrency !== null && (!Number.isInteger(req.concurrency) || req.concurrency < 1 || req.concurrency > 64)) {
    throw invalidField("concurrency", `must be an integer between 1 and 64 (got ${JSON.stringify(req.concurrency)})`);
  }
  if (liveParentState(store, parent) === "drifted") throw conflict(`instant-clone parent ${parent.name} is drifted (its files vanished); it cannot be cloned`, "id");
  if (opts.admitNames !== false) admitChildNames(store, childNamesOf(req), req.names ? "names" : "name_prefix");
}

/** Refuses a parent deletion that cannot be done now: unknown parent, or children without `wait`. */
export function checkParentDelete(store: Store, req: DeleteParentRequest): void {
  const parent = store.getParent(req.id);
  if (!parent) throw notFound("instant-clone parent", req.id, "id");
  if (req.wait) return;
  const children = store.listVms({ instantCloneOf: parent.id });
  const jobs = pendingCloneJobs(store, parent.id);
  if (children.length > 0 || jobs.length > 0) {
    const named = children.map((c) => `${c.name} (${c.id})`);
    const making = jobs.length > 0 ? `; instant-clone jobs in progress: ${jobs.join(", ")}` : "";
    throw conflict(
      `instant-clone parent ${parent.name} still has ${children.length} instant clone(s): ${named.join(", ") || "none yet"}${making}; delete them first, or delete with wait=true to wait until they are gone`,
      "id",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// views

/** `drifted` when the record says so or its RAM file, device state or frozen layer is gone now. */
export function liveParentState(store: Store, p: InstantCloneParent): RecordState {
  if (p.state === "drifted") return "drifted";
  const layer = store.getLayer(p.diskLayerId);
  // Synchronous on purpose: views are built inside route handlers without awaiting.
  const present = (f: string) => statSync(f, { throwIfNoEntry: false })?.isFile() === true;
  return layer && present(layer.path) && present(p.ramPath) && present(p.deviceStatePath) ? "ready" : "drifted";
}

function parentView(store: Store, p: InstantCloneParent): ParentView {
  const chain: string[] = [];
  let cursor: DiskLayer | null = store.getLayer(p.diskLayerId);
  for (let depth = 0; cursor && depth < 256; depth++) {
    chain.push(cursor.path);
    const backing: string | null = cursor.backingPath;
    cursor = backing ? store.findLayerByPath(backing) : null;
    if (!cursor && backing) chain.push(backing);
  }
  const ramStat = statSync(p.ramPath, { throwIfNoEntry: false });
  const allocated = ramStat ? ramStat.blocks * 512 : null;
  return {
    ...p,
    state: liveParentState(store, p),
    diskPath: chain[0] ?? "",
    diskChain: chain,
    childIds: store.listVms({ instantCloneOf: p.id }).map((v) => v.id),
    ramFileAllocatedBytes: allocated,
  };
}

/** The parent with this id; 404 when unknown. */
export function getParentView(store: Store, id: string): ParentView {
  const p = store.getParent(id);
  if (!p) throw notFound("instant-clone parent", id, "id");
  return parentView(store, p);
}

/**
 * Changes a parent's settings (its warm count); 404 for an unknown parent, 400 naming a bad
 * value; changes nothing then. The host's pre-start loop follows the new count.
 */
export function updateParent(ctx: OpContext, req: UpdateParentRequest): ParentView {
  const p = ctx.store.getParent(req.id);
  if (!p) throw notFound("instant-clone parent", req.id, "id");
  if (req.warmCount !== undefined) {
    const issue = warmCountProblem(req.warmCount);
    if (issue) throw invalidField("warm_count", issue);
    ctx.store.tx((s) => s.updateParent(p.id, { warmCount: req.warmCount }));
    ctx.warm?.nudge();
  }
  return getParentView(ctx.store, p.id);
}

/** Every parent, by name. */
export function listParentViews(store: Store): ParentView[] {
  return store.listParents().map((p) => parentView(store, p));
}

// ---------------------------------------------------------------------------------------------
// capture

async function faultHold(ctx: OpContext, variable: string, step: string): Promise<void> {
  // Fault injection for the crash tests: park the work at a named step until the engine dies.
  if (process.env[variable] !== step) return;
  ctx.progress({ message: `fault hold: ${step}` });
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
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
  checkParentCreate(ctx.store, req, { admitName: false });
  const vm = ctx.store.getVm(req.sourceVmId)!;
  const top = ctx.store.getLayer(vm.diskLayerId)!;
  const ds = ctx.store.getDatastore(vm.datastoreId);
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
  ctx.recordIntent(intent);
  ctx.progress({ unit: "steps", done: 0, total: 3, message: "pausing the source VM" });
  const proc = await QemuProcess.reattach(vm.stateDir!, { timeoutMs: 5000 }).catch((err: unknown) => {
    throw internal(`connecting to VM ${vm.name}'s QEMU`, err);
  });
  const spec = proc.spec;
  if (!spec.memoryFile?.share || spec.identity === undefined) {
    await proc.detach();
    throw conflict(`VM ${vm.name} runs without a shared RAM file or an identity (started by an older engine); stop and start it, then capture it`, "source_vm_id");
  }
  const machine = machineOf(ctx.store, vm);
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
    ctx.store.tx((s) => {
      const taken = s.findParentByName(req.name);
      if (taken) throw conflict(`an instant-clone parent named ${JSON.stringify(req.name)} already exists (${taken.id})`, "name");
      s.insertParent({
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
      s.transferLayer(top.id, { path: files.disk, ownerKind: "parent", ownerId: parentId });
      s.insertLayer({
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
      s.updateVm(vm.id, { diskLayerId: intent.sourceNewLayerId, powerState: "stopped", pid: null, crashed: false });
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
  if (i.files.ramDir !== i.files.dir) await removeTmpfsDir(ctx, i.files.ramDir);
  const vm = ctx.store.getVm(i.sourceVmId);
  if (vm) await syncCatalog(ctx.store, vm.datastoreId);
}

/** Lets a source VM the capture paused run on (a save the crash cut short is cancelled first). */
async function resumeSource(ctx: OpContext, i: CreateParentIntent): Promise<void> {
  if ((await probeVm(i.sourceStateDir).catch(() => null))?.state !== "running") {
    ctx.store.tx((s) => (s.getVm(i.sourceVmId) ? s.updateVm(i.sourceVmId, { powerState: "stopped", pid: null, crashed: true }) : undefined));
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
  if (ctx.store.getParent(i.parentId)) {
    await powerOff(i.sourceStateDir, 0);
    ctx.store.tx((s) => (s.getVm(i.sourceVmId) ? s.updateVm(i.sourceVmId, { powerState: "stopped", pid: null, crashed: false }) : undefined));
    return { finished: getParentView(ctx.store, i.parentId) };
  }
  await undoParent(ctx, i);
  await resumeSource(ctx, i);
  return { finished: null };
}

// ---------------------------------------------------------------------------------------------
// instant clones

/** Refuses (409 CF_INCOMPATIBLE_PARENT) a parent this host cannot load: another accelerator or QEMU version than it was saved under. */
export async function checkRunnableHere(p: InstantCloneParent): Promise<void> {
  try {
    await resolveAccel(p.accel);
  } catch (err) {
    if (err instanceof AccelUnavailableError) throw incompatibleParent(`instant-clone parent ${p.name} was saved under ${p.accel}, which this host cannot run: ${err.message}`, "id");
    throw err;
  }
  const version = await qemuVersion();
  if (version.version !== p.qemuVersion) {
    throw incompatibleParent(`instant-clone parent ${p.name} was saved by QEMU ${p.qemuVersion}; this host runs ${version.version}`, "id");
  }
}

/** The QEMU spec of one child: the parent's machine, its RAM file mapped privately, its own overlay on the frozen chain. */
function childSpec(p: InstantCloneParent, chain: readonly DiskLayer[], c: ChildPlan): VmSpec {
  const m = p.machine;
  return {
    name: c.name,
    stateDir: c.stateDir,
    accel: p.accel,
    machine: p.machineType,
    memoryMb: m.memoryMb,
    vcpus: m.vcpus,
    // Every layer of the frozen chain is shared by all children: read-only outright.
    disks: [{ path: c.disk, nodeName: "disk0", backingChain: chain.map((l) => ({ path: l.path, readOnly: true })) }],
    kernel: m.kernel ? { kernel: m.kernel, initrd: m.initrd ?? undefined, cmdline: m.cmdline ?? undefined } : undefined,
    memoryFile: { path: p.ramPath, share: false },
    serialPorts: [{ name: AGENT_PORT_NAME }, { name: NOTIFY_PORT_NAME }],
    identity: c.id,
    incoming: "defer",
  };
}

/**
 * Spawns a child's QEMU: its own copy of the empty overlay, the parent's RAM file mapped
 * privately, the device state handed over as a descriptor; it waits for the state
 * (`loadStartState`). Used for a request's children and for pre-started ones.
 */
export async function spawnChild(parent: InstantCloneParent, chain: readonly DiskLayer[], plan: ChildPlan, overlay: string, signal?: AbortSignal): Promise<QemuProcess> {
  await fs.mkdir(plan.home, { recursive: true });
  await copyFileRestricted(overlay, plan.disk);
  return QemuProcess.start(childSpec(parent, chain, plan), { signal, stateFile: parent.deviceStatePath });
}

/** The parent's frozen chain, top first; 409 when its records are gone. */
export function parentChain(store: Store, parent: InstantCloneParent): { top: DiskLayer; chain: DiskLayer[] } {
  const top = store.getLayer(parent.diskLayerId);
  if (!top) throw conflict(`instant-clone parent ${parent.name} has no disk layer record`, "id");
  return { top, chain: diskLayersOf(store, { name: parent.name, diskLayerId: top.id } as Vm) };
}

/**
 * The empty overlay children copy: the one made at capture, else one made now at `fallback`
 * (the caller removes it when done).
 */
export async function childOverlay(parent: InstantCloneParent, top: DiskLayer, fallback: string): Promise<string> {
  const own = childOverlayOf(parent);
  if (await exists(own)) return own;
  await fs.mkdir(path.dirname(fallback), { recursive: true });
  if (!(await exists(fallback))) await createOverlay(fallback, { backingPath: top.path, sizeBytes: top.virtualSizeBytes });
  return fallback;
}

/**
 * Starts `count` instant clones of a parent, at most `concurrency` at a time, and records
 * them all at once when every one runs; on any failure none stays. Throws 404/409 for a bad
 * request, 409 CF_INCOMPATIBLE_PARENT when this host cannot load the parent's state, 500
 * naming the failed step otherwise.
 */
export async function instantClone(ctx: OpContext, req: InstantCloneRequest): Promise<InstantCloneResult> {
  checkInstantClone(ctx.store, req, { admitNames: false });
  const parent = ctx.store.getParent(req.parentId)!;
  await checkRunnableHere(parent);
  const ds = ctx.store.getDatastore(parent.datastoreId);
  if (!ds) throw conflict(`instant-clone parent ${parent.name}'s datastore is gone`, "id");
  const { top, chain } = parentChain(ctx.store, parent);
  const concurrency = req.concurrency ?? ctx.settings.instantCloneConcurrency ?? DEFAULT_INSTANT_CLONE_CONCURRENCY;
  const names = childNamesOf(req);
  // Pre-started children first: their state is loaded, they only need to be resumed.
  const warm = new Map((ctx.warm?.take(parent.id, names.length) ?? []).map((w, i) => [names[i], w]));
  const children: ChildPlan[] = names.map((name) => {
    const pre = warm.get(name);
    if (pre) return { ...pre.plan, name };
    const id = newId("vm");
    return { id, name, layerId: newId("layer"), home: vmDir(ds.path, id), disk: vmDiskPath(ds.path, id), stateDir: vmStateDir(ctx, id) };
  });
  const intent: InstantCloneIntent = { parentId: parent.id, children, overlayTemplate: partPath(ds.path, `instant-${newContentId().slice(0, 16)}`) };
  try {
    ctx.recordIntent(intent);
  } catch (err) {
    await Promise.all([...warm.values()].map((w) => w.proc.kill().catch(() => undefined)));
    throw err;
  }
  ctx.progress({ unit: "steps", done: 0, total: req.count, message: `starting ${req.count} instant clone(s)` });
  const t0 = performance.now();
  const started = new Map<string, { pid: number; readyMs: number; startMs: number }>();
  let done = 0;
  try {
    // One empty overlay, made when the parent was captured, copied per child: a file copy of
    // ~200 KiB costs far less than one qemu-img process per child.
    const overlay = warm.size < children.length ? await childOverlay(parent, top, intent.overlayTemplate) : "";
    const outcomes = await mapBounded(children, concurrency, async (c) => {
      const pre = warm.get(c.name);
      if (!pre) throwIfCancelled(ctx);
      const spawnAt = performance.now();
      const proc = pre ? pre.proc : await spawnChild(parent, chain, c, overlay, ctx.signal);
      const upAt = performance.now();
      try {
        if (!pre) await proc.loadStartState({ ignoreShared: true, signal: ctx.signal });
        const loadedAt = performance.now();
        if (!req.startPaused) await proc.resume();
        ctx.log.debug({ vmId: c.id, qmpUpMs: round(upAt - spawnAt), loadMs: round(loadedAt - upAt), resumeMs: round(performance.now() - loadedAt) }, "instant clone started");
      } catch (err) {
        await proc.kill().catch(() => undefined);
        throw err;
      }
      const now = performance.now();
      started.set(c.id, { pid: proc.pid, readyMs: round(now - t0), startMs: round(now - spawnAt) });
      await proc.detach();
      ctx.progress({ done: ++done, message: `${done} of ${req.count} running` });
    });
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) throw failed.reason;
    await faultHold(ctx, "CLONEFLEET_FAULT_CLONE_HOLD", "before-commit");
    throwIfCancelled(ctx);
    commitChildren(ctx.store, parent, top, children, started);
  } catch (err) {
    // Pre-started children hold their monitor connection until they ran; let go before the undo.
    await Promise.all([...warm.values()].map((w) => w.proc.kill().catch(() => undefined)));
    await undoChildren(ctx, intent);
    if (isEngineError(err)) throw err;
    throw internal(`starting instant clones of ${parent.name}`, err);
  }
  const runningAt = performance.now();
  await fs.rm(intent.overlayTemplate, { force: true });
  await syncCatalog(ctx.store, ds.id);
  ctx.log.debug({ parentId: parent.id, runningMs: round(runningAt - t0), catalogMs: round(performance.now() - runningAt) }, "instant clones recorded");
  const totalMs = round(runningAt - t0);
  const result: InstantCloneResult = {
    parentId: parent.id,
    children: children.map((c) => ({ ...getVmView(ctx.store, c.id), readyMs: started.get(c.id)!.readyMs, startMs: started.get(c.id)!.startMs })),
    totalMs,
    concurrency,
  };
  ctx.log.info({ parentId: parent.id, count: req.count, totalMs, concurrency, preStarted: warm.size }, "instant clones running");
  if (warm.size > 0) ctx.warm?.nudge();
  return result;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

function commitChildren(store: Store, p: InstantCloneParent, top: DiskLayer, children: readonly ChildPlan[], started: Map<string, { pid: number }>): void {
  const now = nowIso();
  store.tx((s) => {
    if (!s.getParent(p.id)) throw conflict(`instant-clone parent ${p.name} was deleted meanwhile`, "id");
    for (const c of children) {
      const taken = s.findVmByName(c.name);
      if (taken) throw conflict(`a VM named ${JSON.stringify(c.name)} already exists (${taken.id})`, "name");
      s.insertLayer({
        id: c.layerId,
        datastoreId: p.datastoreId,
        path: c.disk,
        format: "qcow2",
        virtualSizeBytes: top.virtualSizeBytes,
        contentId: newContentId(),
        parentContentId: top.contentId,
        backingPath: top.path,
        ownerKind: "vm",
        ownerId: c.id,
        state: "ready",
        createdAt: now,
      });
      s.insertVm({
        id: c.id,
        name: c.name,
        templateId: null,
        datastoreId: p.datastoreId,
        diskLayerId: c.layerId,
        homeDir: c.home,
        provisionedBy: "instant-clone",
        cloneMode: null,
        fleetId: null,
        powerState: "running",
        state: "ready",
        createdAt: now,
        accel: p.accel,
        accelOverride: p.accel,
        pid: started.get(c.id)?.pid ?? null,
        stateDir: c.stateDir,
        machine: p.machine,
        instantCloneOf: p.id,
      });
    }
  });
}

/** Removes every child of an uncommitted request: its QEMU, its files. Idempotent. */
async function undoChildren(ctx: OpContext, i: InstantCloneIntent): Promise<void> {
  await mapBounded(i.children, 8, async (c) => {
    await powerOff(c.stateDir, 0).catch(() => undefined);
    await removeVmStateDir(ctx, c.stateDir);
    await removeFromDatastore(ctx.store, c.home);
  });
  await fs.rm(i.overlayTemplate, { force: true });
  const p = ctx.store.getParent(i.parentId);
  if (p) await syncCatalog(ctx.store, p.datastoreId);
}

/**
 * After a crash during an instant-clone request: children recorded (all are, or none) are
 * kept, those whose QEMU died marked stopped and crashed; otherwise every child's QEMU and
 * files are removed.
 */
export async function recoverInstantClone(ctx: OpContext, intent: unknown): Promise<{ finished: InstantCloneResult | null }> {
  const i = intent as InstantCloneIntent | null;
  if (!i) return { finished: null };
  const recorded = i.children.filter((c) => ctx.store.getVm(c.id));
  if (recorded.length === 0) {
    await undoChildren(ctx, i);
    return { finished: null };
  }
  await fs.rm(i.overlayTemplate, { force: true });
  for (const c of recorded) {
    if (livePid(c.stateDir) === null) ctx.store.tx((s) => s.updateVm(c.id, { powerState: "stopped", pid: null, crashed: true }));
  }
  return {
    finished: {
      parentId: i.parentId,
      children: recorded.map((c) => ({ ...getVmView(ctx.store, c.id), readyMs: 0, startMs: 0 })),
      totalMs: 0,
      concurrency: 0,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// deletion

/**
 * Deletes a parent: refused (409 naming them) while it has children, unless `wait`, which
 * waits (cancellable) until they are gone. Its RAM file and device state go; its frozen layer
 * goes too unless another disk still needs it (the source VM's overlay), which then owns it.
 */
export async function deleteParent(ctx: OpContext, req: DeleteParentRequest): Promise<{ id: string; keptLayer: string | null }> {
  checkParentDelete(ctx.store, req);
  for (;;) {
    const left = ctx.store.listVms({ instantCloneOf: req.id }).length + pendingCloneJobs(ctx.store, req.id).length;
    if (left === 0) break;
    ctx.progress({ unit: "steps", done: 0, total: 1, message: `waiting for ${left} instant clone(s) to be deleted` });
    throwIfCancelled(ctx);
    await new Promise((r) => setTimeout(r, 200));
  }
  const p = ctx.store.getParent(req.id);
  if (!p) return { id: req.id, keptLayer: null };
  const top = ctx.store.getLayer(p.diskLayerId);
  let kept: { layer: DiskLayer; owner: Vm } | null = null;
  ctx.store.tx((s) => {
    if (s.listVms({ instantCloneOf: p.id }).length > 0) throw conflict(`instant-clone parent ${p.name} got a new instant clone meanwhile`, "id");
    s.deleteParent(p.id);
    if (!top) return;
    const users = s.listLayers().filter((l) => l.backingPath === top.path);
    const owner = users.map((l) => (l.ownerKind === "vm" ? s.getVm(l.ownerId) : null)).find((v): v is Vm => v !== null);
    if (users.length > 0 && owner) {
      // The source VM's overlay (or whatever else is backed by it) still needs the frozen layer.
      s.transferLayer(top.id, { path: top.path, ownerKind: "vm", ownerId: owner.id });
      kept = { layer: top, owner };
    } else if (users.length > 0) {
      throw conflict(`instant-clone parent ${p.name}'s frozen layer backs disks no VM owns: ${users.map((l) => l.path).join(", ")}`, "id");
    } else {
      s.deleteLayer(top.id);
    }
  });
  // Waiting for the next warm pass would leave them running on the parent's files, in a datastore that may be deleted next.
  await ctx.warm?.release(p.id);
  const ds = ctx.store.getDatastore(p.datastoreId);
  await fs.rm(p.ramPath, { force: true });
  await fs.rm(p.deviceStatePath, { force: true });
  if (p.ramLocation === "tmpfs") await removeTmpfsDir(ctx, path.dirname(p.ramPath));
  const keptLayer = kept as { layer: DiskLayer; owner: Vm } | null;
  if (keptLayer) {
    // The children's empty overlay is the parent's alone; the frozen layer stays for the VM.
    await fs.rm(childOverlayOf(p), { force: true });
    await moveKeptLayer(ctx, keptLayer.layer, keptLayer.owner).catch((err: unknown) => ctx.log.warn({ err, parentId: p.id }, "the frozen layer stays in the parent's folder"));
  } else if (ds) {
    await removeFromDatastore(ctx.store, parentDir(ds.path, p.id));
  }
  if (ds) await syncCatalog(ctx.store, ds.id);
  ctx.log.info({ parentId: p.id, keptLayer: keptLayer?.layer.path ?? null }, "instant-clone parent deleted");
  return { id: p.id, keptLayer: keptLayer ? (ctx.store.getLayer(keptLayer.layer.id)?.path ?? null) : null };
}

/**
 * Moves a frozen layer the source VM still needs into that VM's home folder, so it goes with
 * the VM; only while the VM is stopped (a running QEMU has the old path open) and when the VM's
 * top layer is the only disk on it (one header to rewrite).
 */
async function moveKeptLayer(ctx: OpContext, layer: DiskLayer, owner: Vm): Promise<void> {
  const users = ctx.store.listLayers().filter((l) => l.backingPath === layer.path);
  if (livePid(owner.stateDir) !== null || users.length !== 1 || users[0].id !== owner.diskLayerId) return;
  const dest = path.join(owner.homeDir, `disk-${layer.contentId.slice(0, 12)}.qcow2`);
  await fs.rename(layer.path, dest);
  try {
    await rebase(users[0].path, { backingPath: dest, unsafe: true });
  } catch (err) {
    await fs.rename(dest, layer.path);
    throw err;
  }
  ctx.store.tx((s) => {
    s.transferLayer(layer.id, { path: dest, ownerKind: "vm", ownerId: owner.id });
    s.updateLayer(users[0].id, { backingPath: dest });
  });
  await removeFromDatastore(ctx.store, path.dirname(layer.path));
}

/** Removes a parent's RAM folder after proving it lies inside this engine's tmpfs folder; throws internal otherwise. */
async function removeTmpfsDir(ctx: OpContext, dir: string): Promise<void> {
  try {
    if (!ctx.settings.parentTmpfsDir) throw new Error("the engine has no tmpfs folder configured");
    await removeOwnedTree(ctx.settings.parentTmpfsDir, dir);
  } catch (err) {
    throw internal(`removing the RAM folder ${dir}`, err);
  }
}

// ---------------------------------------------------------------------------------------------
// reconciliation

/** What the parents' reconciliation at start found. */
export interface ParentReconcileReport {
  driftedParents: string[];
  /** Folders on the tmpfs no parent owns; removed. */
  removedRamDirs: string[];
}

/**
 * At engine start, after interrupted jobs were recovered: marks parents whose RAM file,
 * device state or frozen layer vanished as drifted, and removes folders in this engine's
 * tmpfs folder that no parent owns.
 */
export async function reconcileParents(ctx: OpContext): Promise<ParentReconcileReport> {
  const report: ParentReconcileReport = { driftedParents: [], removedRamDirs: [] };
  for (const p of ctx.store.listParents()) {
    if (p.state !== "drifted" && liveParentState(ctx.store, p) === "drifted") {
      ctx.store.tx((s) => s.updateParent(p.id, { state: "drifted" }));
      report.driftedParents.push(p.id);
      ctx.log.warn({ parentId: p.id }, "an instant-clone parent's files vanished; marked drifted");
    }
  }
  const root = ctx.settings.parentTmpfsDir;
  const refused = root ? await firstUnsafeLevel(parentTmpfsLevels(root)) : null;
  if (refused) ctx.log.warn({ dir: refused }, "the tmpfs folder of instant-clone parents is not this engine's own private folder; not swept (remove it, as parents cannot be captured there)");
  else if (root) {
    const owned = new Set(ctx.store.listParents().map((p) => path.dirname(p.ramPath)));
    for (const name of await fs.readdir(root).catch(() => [] as string[])) {
      const dir = path.join(root, name);
      if (owned.has(dir)) continue;
      try {
        await removeOwnedTree(root, dir);
        report.removedRamDirs.push(dir);
      } catch (err) {
        ctx.log.warn({ err, dir }, "not removing a tmpfs entry that leads outside the parents' folder");
      }
    }
  }
  return report;
}

/** The first of `levels` that exists and is not this process's own private folder, or null. */
async function firstUnsafeLevel(levels: readonly string[]): Promise<string | null> {
  for (const level of levels) {
    const problem = await privateFolderProblem(level).catch(() => null);
    if (problem) return level;
  }
  return null;
}

/** Paths under datastores that parents own (frozen layers are DiskLayer records already). */
export function parentOwnedPaths(store: Store): string[] {
  return store.listParents().flatMap((p) => [p.ramPath, p.deviceStatePath, childOverlayOf(p)]);
}
