/**
 * Instant clones of a parent (S3): children map the parent's RAM file privately
 * (copy-on-write), run on their own overlay of its frozen chain, start with `-incoming defer`,
 * load its device state and continue where the parent was captured — no boot. Pre-started
 * children (WarmChildren) are taken first and only resumed.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { copyFileRestricted, createOverlay, newContentId, partPath, vmDir, vmDiskPath } from "../disk";
import { conflict, incompatibleParent, internal, invalidField, isEngineError, notFound } from "../errors";
import { AGENT_PORT_NAME, AccelUnavailableError, NOTIFY_PORT_NAME, QemuProcess, qemuVersion, resolveAccel, type VmSpec } from "../hypervisor";
import { DEFAULT_INSTANT_CLONE_CONCURRENCY, MAX_INSTANT_CLONES_PER_REQUEST, JOB_KINDS, nameProblem, newId, nowIso, type DiskLayer, type InstantCloneParent, type Vm } from "../model";
import type { Inventory } from "../store";
import { syncCatalog, syncCatalogSoon } from "./catalog-sync";
import { throwIfCancelled, type OpContext } from "./context";
import { removeFromDatastore } from "./datastore-removal";
import { faultHold } from "./fault-hold";
import type { ChildPlan } from "./instant-clone-child";
import { childOverlayOf, cloneCountProblem, instantCloneNames, mapBounded, namePrefixProblem } from "./instant-clone-plan";
import { liveParentState } from "./parent-lifecycle";
import { getVmView, type VmView } from "./vm-view";
import { diskLayersOf, livePid, powerOff, removeVmStateDir, vmStateDir } from "./vm-power";

/** The job kind that starts instant clones of a parent. */
export const INSTANT_CLONE_KIND = JOB_KINDS.instantClone;

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

/** What an instant-clone request is about to make, recorded before any file is touched. */
interface InstantCloneIntent {
  parentId: string;
  children: ChildPlan[];
  /** An empty overlay this request makes when the parent's own is missing; removed at the end. */
  overlayTemplate: string;
}

/** The names of the children a request makes. */
export function childNamesOf(req: InstantCloneRequest): string[] {
  return req.names ? [...req.names] : instantCloneNames(req.namePrefix, req.count);
}

/** Refuses names a VM has or a queued or running VM-making job will take. */
async function admitChildNames(store: Inventory, names: readonly string[], field: string): Promise<void> {
  const wanted = new Set(names);
  for (const n of names) {
    const vm = await store.vms.findByName(n);
    if (vm) throw conflict(`a VM named ${JSON.stringify(n)} already exists (${vm.id}); choose other names`, field);
  }
  for (const j of await store.jobs.list({ states: ["queued", "running"] })) {
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
export async function checkInstantClone(store: Inventory, req: InstantCloneRequest, opts: { admitNames?: boolean } = {}): Promise<void> {
  const parent = await store.parents.get(req.parentId);
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
  if ((await liveParentState(store, parent)) === "drifted") throw conflict(`instant-clone parent ${parent.name} is drifted (its files vanished); it cannot be cloned`, "id");
  if (opts.admitNames !== false) await admitChildNames(store, childNamesOf(req), req.names ? "names" : "name_prefix");
}

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
export async function parentChain(store: Inventory, parent: InstantCloneParent): Promise<{ top: DiskLayer; chain: DiskLayer[] }> {
  const top = await store.layers.get(parent.diskLayerId);
  if (!top) throw conflict(`instant-clone parent ${parent.name} has no disk layer record`, "id");
  return { top, chain: await diskLayersOf(store, { name: parent.name, diskLayerId: top.id } as Vm) };
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
  await checkInstantClone(ctx.store, req, { admitNames: false });
  const parent = (await ctx.store.parents.get(req.parentId))!;
  const ds = await ctx.store.datastores.get(parent.datastoreId);
  if (!ds) throw conflict(`instant-clone parent ${parent.name}'s datastore is gone`, "id");
  const { top, chain } = await parentChain(ctx.store, parent);
  const concurrency = req.concurrency ?? ctx.settings.instantCloneConcurrency ?? DEFAULT_INSTANT_CLONE_CONCURRENCY;
  const names = childNamesOf(req);
  // Pre-started children first: their state is loaded, they only need to be resumed.
  const warm = new Map((ctx.warm?.take(parent.id, names.length) ?? []).map((w, i) => [names[i], w]));
  // Pre-started children passed this check when they were started on this host.
  if (warm.size < names.length) {
    try {
      await checkRunnableHere(parent);
    } catch (err) {
      await Promise.all([...warm.values()].map((w) => w.proc.kill().catch(() => undefined)));
      throw err;
    }
  }
  const children: ChildPlan[] = names.map((name) => {
    const pre = warm.get(name);
    if (pre) return { ...pre.plan, name };
    const id = newId("vm");
    return { id, name, layerId: newId("layer"), home: vmDir(ds.path, id), disk: vmDiskPath(ds.path, id), stateDir: vmStateDir(ctx, id) };
  });
  const intent: InstantCloneIntent = { parentId: parent.id, children, overlayTemplate: partPath(ds.path, `instant-${newContentId().slice(0, 16)}`) };
  try {
    await ctx.recordIntent(intent);
  } catch (err) {
    await Promise.all([...warm.values()].map((w) => w.proc.kill().catch(() => undefined)));
    throw err;
  }
  ctx.progress({ unit: "steps", done: 0, total: req.count, message: `starting ${req.count} instant clone(s)` });
  const t0 = performance.now();
  const started = new Map<string, { pid: number; readyMs: number; startMs: number }>();
  let done = 0;
  let overlay = "";
  try {
    // One empty overlay, made when the parent was captured, copied per child: a file copy of
    // ~200 KiB costs far less than one qemu-img process per child.
    if (warm.size < children.length) overlay = await childOverlay(parent, top, intent.overlayTemplate);
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
      // Only our side of the monitor connection must close; QEMU's acknowledgement is not waited for.
      void proc.detach();
      ctx.progress({ done: ++done, message: `${done} of ${req.count} running` });
    });
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) throw failed.reason;
    await faultHold(ctx, "CLONEFLEET_FAULT_CLONE_HOLD", "before-commit");
    throwIfCancelled(ctx);
    await commitChildren(ctx.store, parent, top, children, started);
  } catch (err) {
    // Pre-started children hold their monitor connection until they ran; let go before the undo.
    await Promise.all([...warm.values()].map((w) => w.proc.kill().catch(() => undefined)));
    await undoChildren(ctx, intent);
    if (isEngineError(err)) throw err;
    throw internal(`starting instant clones of ${parent.name}`, err);
  }
  const runningAt = performance.now();
  if (overlay === intent.overlayTemplate) await fs.rm(intent.overlayTemplate, { force: true });
  // The answer does not need the catalog; start-up reconciliation rewrites it after a crash.
  syncCatalogSoon(ctx.store, ds.id, ctx.log);
  const totalMs = round(runningAt - t0);
  const result: InstantCloneResult = {
    parentId: parent.id,
    children: await Promise.all(children.map(async (c) => ({ ...(await getVmView(ctx.store, c.id)), readyMs: started.get(c.id)!.readyMs, startMs: started.get(c.id)!.startMs }))),
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

async function commitChildren(store: Inventory, p: InstantCloneParent, top: DiskLayer, children: readonly ChildPlan[], started: Map<string, { pid: number }>): Promise<void> {
  const now = nowIso();
  await store.tx(async (s) => {
    if (!(await s.parents.get(p.id))) throw conflict(`instant-clone parent ${p.name} was deleted meanwhile`, "id");
    for (const c of children) {
      const taken = await s.vms.findByName(c.name);
      if (taken) throw conflict(`a VM named ${JSON.stringify(c.name)} already exists (${taken.id})`, "name");
      await s.layers.insert({
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
      await s.vms.insert({
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
  const p = await ctx.store.parents.get(i.parentId);
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
  const recorded: typeof i.children = [];
  for (const c of i.children) if (await ctx.store.vms.get(c.id)) recorded.push(c);
  if (recorded.length === 0) {
    await undoChildren(ctx, i);
    return { finished: null };
  }
  await fs.rm(i.overlayTemplate, { force: true });
  for (const c of recorded) {
    if (livePid(c.stateDir) === null) await ctx.store.tx(async (s) => await s.vms.update(c.id, { powerState: "stopped", pid: null, crashed: true }));
  }
  return {
    finished: {
      parentId: i.parentId,
      children: await Promise.all(recorded.map(async (c) => ({ ...(await getVmView(ctx.store, c.id)), readyMs: 0, startMs: 0 }))),
      totalMs: 0,
      concurrency: 0,
    },
  };
}

async function exists(f: string): Promise<boolean> {
  return fs.access(f).then(
    () => true,
    () => false,
  );
}
