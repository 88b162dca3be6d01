import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import {
  check,
  compare,
  copyLayerFile,
  ensureLayout,
  imageInfo,
  imageInfoChain,
  inspectChainCached,
  rebase,
  replicaDir,
  replicaLayerPath,
  tmpDir,
  type ImageInfo,
  engineDir,
  removeOwnedTree,
} from "../disk";
import { conflict, internal, invalidField, isEngineError, notFound } from "../errors";
import {
  absolutePathProblem,
  JOB_KINDS,
  newId,
  nowIso,
  pathIsWithin,
  type Datastore,
  type DiskLayer,
  type Replica,
  type ReplicaLayer,
  type ReplicationRun,
} from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import { chainConfinementProblem } from "./chain-confinement";
import { throwIfCancelled, type OpContext } from "./context";
import { faultHold } from "./fault-hold";
import { CatalogView } from "./layer-evidence";
import {
  planReplication,
  type CopyStep,
  type KeepStep,
  type PlanCandidate,
  type PlanOwnLayer,
  type PlanSourceLayer,
  type ReplicationPlan,
} from "./replicate-plan";

export const CREATE_REPLICA_KIND = JOB_KINDS.createReplica;
export const REPAIR_REPLICA_KIND = JOB_KINDS.repairReplica;

/** Replicate a chain to a datastore: exactly one of `sourcePath` (the top layer of any chain inside a datastore) and `templateId`. */
export interface CreateReplicaRequest {
  sourcePath?: string | null;
  templateId?: string | null;
  targetDatastoreId: string;
  /** Compare the result with the source (`qemu-img compare`) before recording it. */
  verify?: boolean;
}

/** Copy again whatever a replica relies on that is missing or changed on its target. */
export interface RepairReplicaRequest {
  replicaId: string;
  verify?: boolean;
}

/** One reason a replica no longer matches what it recorded. */
export interface ReplicaDrift {
  position: number;
  path: string;
  reason: string;
}

/** A replica as users see it: its record, with its state and drift measured now. */
export interface ReplicaView extends Replica {
  drift: ReplicaDrift[];
}

/** The source chain of a request, resolved: its layers top first, with the content IDs something vouches for. */
interface ResolvedSource {
  kind: "disk" | "template";
  templateId: string | null;
  topPath: string;
  datastore: Datastore;
  layers: PlanSourceLayer[];
}

/** What a run is about to create or change, recorded before it touches any file. */
interface ReplicationIntent {
  runId: string;
  mode: "create" | "repair";
  replicaId: string;
  targetDatastoreId: string;
  copies: { tmpPath: string; finalPath: string }[];
  rebases: { path: string; fromBackingPath: string | null; toBackingPath: string | null }[];
}

/**
 * Checks a replication request against the inventory and the files, touching nothing: one
 * source (a disk path inside a datastore, or a template), a known target datastore other than
 * the source's, and a qcow2 chain whose every layer has a content ID. Throws a 4xx EngineError
 * naming the field.
 */
export async function validateReplicaCreate(store: Inventory, req: CreateReplicaRequest): Promise<void> {
  checkSourceChoice(req);
  const target = await store.datastores.get(req.targetDatastoreId);
  if (!target) throw notFound("datastore", req.targetDatastoreId, "target_datastore_id");
  const source = await resolveSource(store, req);
  refuseSameDatastore(source, target);
}

/** Refuses, inside the job's transaction, a replication whose target datastore was removed meanwhile. */
export async function admitReplicaCreate(store: Inventory, req: CreateReplicaRequest): Promise<void> {
  if (!(await store.datastores.get(req.targetDatastoreId))) throw notFound("datastore", req.targetDatastoreId, "target_datastore_id");
}

/** Refuses, inside the job's transaction, a repair of an unknown replica or of one that other work is already changing. */
export async function admitReplicaRepair(store: Inventory, req: RepairReplicaRequest): Promise<void> {
  if (!(await store.replicas.get(req.replicaId))) throw notFound("replica", req.replicaId, "id");
  const pending = await pendingJobFor(store, req.replicaId);
  if (pending) throw conflict(`replica ${req.replicaId} is already being repaired by job ${pending.id}`, "id");
}

/**
 * Replicates a chain onto the target datastore (S7), copying as little as possible: the top
 * layer is copied, then each parent is looked up by content ID in the target's catalog and
 * reused when sound, else copied too. Copies are made in the target's tmp folder and renamed
 * into `clonefleet/replicas/<id>/`, bottom layer first, after the intent is recorded; records
 * are committed in one transaction and the catalog rewritten. On failure or cancellation every
 * file it made is removed. Throws 4xx EngineErrors for bad input, `internal` naming the failed step.
 */
export async function createReplica(ctx: OpContext, req: CreateReplicaRequest): Promise<ReplicaView> {
  const startedAt = nowIso();
  checkSourceChoice(req);
  const target = await ctx.store.datastores.get(req.targetDatastoreId);
  if (!target) throw notFound("datastore", req.targetDatastoreId, "target_datastore_id");
  const source = await resolveSource(ctx.store, req);
  refuseSameDatastore(source, target);
  const replicaId = newId("rep");
  const view = await CatalogView.open(ctx.store);
  const candidates = await gatherCandidates(view, target, source.layers);
  const plan = planReplication({
    source: source.layers,
    candidates,
    copyPath: (position, contentId) => replicaLayerPath(target.path, replicaId, position, contentId),
  });
  const recordedReuse: string[] = [];
  for (const s of plan.steps) if (s.action === "reuse" && (await ctx.store.layers.findByPath(s.targetPath))) recordedReuse.push(s.targetPath);

  const run = await carryOut(ctx, { plan, replicaId, target, mode: "create", verify: req.verify === true, sourceTop: source.topPath }, async (copied, runId, verified) => {
    const now = nowIso();
    const layerIds = new Map<number, string>();
    const lastRun = runReport(runId, "create", plan, copied, verified, startedAt, now);
    await ctx.store.tx(async (s) => {
      if (!(await s.datastores.get(target.id))) throw conflict(`datastore ${target.id} was removed during the replication`, "target_datastore_id");
      for (const p of recordedReuse) {
        if (!(await s.layers.findByPath(p))) throw conflict(`target layer ${p} was removed during the replication; try again`);
      }
      for (const step of plan.steps) {
        if (step.action !== "copy") continue;
        const layer = copyRecord(step, target.id, replicaId, now);
        await s.layers.insert(layer);
        layerIds.set(step.position, layer.id);
      }
      const layers = replicaLayers(plan, layerIds);
      await s.replicas.insert({
        id: replicaId,
        sourceKind: source.kind,
        sourcePath: source.topPath,
        sourceTemplateId: source.templateId,
        targetDatastoreId: target.id,
        topLayerId: layerIds.get(0)!,
        diskPath: plan.steps[0].targetPath,
        layersCopied: layers.filter((l) => l.origin === "copied").length,
        layersReused: layers.filter((l) => l.origin === "reused").length,
        bytesCopied: lastRun.bytesCopied,
        layers,
        lastRun,
        state: "ready",
        createdAt: now,
        updatedAt: now,
      });
    });
    return lastRun;
  });
  await syncCatalog(ctx.store, target.id);
  ctx.log.info(
    { replicaId, target: target.id, copied: run.copied.length, reused: run.reused.length, bytes: run.bytesCopied, staleLinks: run.staleLinks.length },
    "replica created",
  );
  return getReplicaView(ctx.store, replicaId);
}

/**
 * Brings a replica back to what it declares: its own layers still intact are kept, the target
 * is searched again for the layers it reused, and only what is missing or changed is copied
 * (from the source as it is now); superseded own layers nothing else relies on are removed.
 * Crash-safe like `createReplica`. Throws 404 for an unknown replica, 409 when its source is gone.
 */
export async function repairReplica(ctx: OpContext, req: RepairReplicaRequest): Promise<ReplicaView> {
  const startedAt = nowIso();
  const replica = await ctx.store.replicas.get(req.replicaId);
  if (!replica) throw notFound("replica", req.replicaId, "id");
  const target = await ctx.store.datastores.get(replica.targetDatastoreId);
  if (!target) throw internal(`replica ${replica.id} names a datastore that does not exist`);
  const sourceReq = replica.sourceKind === "template" ? { templateId: replica.sourceTemplateId } : { sourcePath: replica.sourcePath };
  const source = await resolveSource(ctx.store, sourceReq).catch((err) => {
    if (isEngineError(err) && err.statusCode < 500) throw conflict(`the replica's source cannot be read: ${err.message}`, "id");
    throw err;
  });
  const view = await CatalogView.open(ctx.store);
  const own = await ownLayerFacts(view, replica);
  const candidates = await gatherCandidates(view, target, source.layers);
  const plan = planReplication({
    source: source.layers,
    candidates,
    own,
    copyPath: (position, contentId) => replicaLayerPath(target.path, replica.id, position, contentId),
  });
  const recordedReuse: string[] = [];
  for (const s of plan.steps) if (s.action === "reuse" && (await ctx.store.layers.findByPath(s.targetPath))) recordedReuse.push(s.targetPath);

  const leftovers: string[] = [];
  const run = await carryOut(ctx, { plan, replicaId: replica.id, target, mode: "repair", verify: req.verify === true, sourceTop: source.topPath }, async (copied, runId, verified) => {
    const now = nowIso();
    const lastRun = runReport(runId, "repair", plan, copied, verified, startedAt, now);
    await ctx.store.tx(async (s) => {
      const current = await s.replicas.get(replica.id);
      if (!current) throw conflict(`replica ${replica.id} was deleted during the repair`, "id");
      for (const p of recordedReuse) {
        if (!(await s.layers.findByPath(p))) throw conflict(`target layer ${p} was removed during the repair; try again`);
      }
      const layerIds = new Map<number, string>();
      for (const step of plan.steps) {
        if (step.action === "copy") {
          const existing = await s.layers.findByPath(step.targetPath);
          if (existing) {
            await s.layers.update(existing.id, {
              contentId: step.source.contentId,
              parentContentId: step.source.parentContentId,
              backingPath: step.parentTargetPath,
              virtualSizeBytes: step.source.virtualSizeBytes,
              state: "ready",
            });
            layerIds.set(step.position, existing.id);
          } else {
            const layer = copyRecord(step, target.id, replica.id, now);
            await s.layers.insert(layer);
            layerIds.set(step.position, layer.id);
          }
        } else if (step.action === "keep") {
          const record = await s.layers.findByPath(step.targetPath);
          if (!record) throw internal(`replica layer ${step.targetPath} has no record`);
          if (step.rebase) await s.layers.update(record.id, { backingPath: step.parentTargetPath });
          layerIds.set(step.position, record.id);
        }
      }
      const layers = replicaLayers(plan, layerIds);
      const inChain = new Set(layers.map((l) => l.path));
      for (const l of await s.layers.list({ ownerKind: "replica", ownerId: replica.id })) {
        if (inChain.has(l.path) || (await isReliedOn(s, l.path, replica.id))) continue;
        await s.layers.delete(l.id);
        leftovers.push(l.path);
      }
      await s.replicas.update(replica.id, {
        sourcePath: source.topPath,
        topLayerId: layerIds.get(0)!,
        diskPath: plan.steps[0].targetPath,
        layersCopied: layers.filter((l) => l.origin === "copied").length,
        layersReused: layers.filter((l) => l.origin === "reused").length,
        bytesCopied: current.bytesCopied + lastRun.bytesCopied,
        layers,
        lastRun,
        state: "ready",
        updatedAt: now,
      });
    });
    return lastRun;
  });
  for (const p of leftovers) await fs.rm(p, { force: true });
  await syncCatalog(ctx.store, target.id);
  ctx.log.info({ replicaId: replica.id, copied: run.copied.length, kept: run.kept.length, reused: run.reused.length, bytes: run.bytesCopied }, "replica repaired");
  return getReplicaView(ctx.store, replica.id);
}

/** After a crash: a run whose records were committed is finished; anything else is undone from its intent. */
export async function recoverReplication(ctx: OpContext, intent: unknown): Promise<{ finished: ReplicaView | null }> {
  const i = intent as ReplicationIntent | null;
  if (!i) return { finished: null };
  const replica = await ctx.store.replicas.get(i.replicaId);
  if (replica && replica.lastRun.runId === i.runId) {
    await Promise.all(i.copies.map((c) => fs.rm(c.tmpPath, { force: true })));
    await syncCatalog(ctx.store, i.targetDatastoreId);
    return { finished: await getReplicaView(ctx.store, replica.id) };
  }
  await undoRun(ctx, i);
  await syncCatalog(ctx.store, i.targetDatastoreId);
  return { finished: null };
}

/** The replica with this id, its drift measured now (and its recorded state refreshed when it changed); 404 when unknown. */
export async function getReplicaView(store: Inventory, id: string): Promise<ReplicaView> {
  const r = await store.replicas.get(id);
  if (!r) throw notFound("replica", id, "id");
  return measure(store, r, await CatalogView.open(store));
}

/** Every replica (optionally those on one target datastore), each measured now. */
export async function listReplicaViews(store: Inventory, filter: { targetDatastoreId?: string } = {}): Promise<ReplicaView[]> {
  const view = await CatalogView.open(store);
  const out: ReplicaView[] = [];
  for (const r of await store.replicas.list(filter)) out.push(await measure(store, r, view));
  return out;
}

/** Where a deleted replica's files lie, recorded as a job's intent before its records go. */
export interface ReplicaFiles {
  replicaId: string;
  targetDatastoreId: string;
}

/** Checks that replica `id` may be deleted, changing nothing: 404 when unknown, 409 while a job repairs it or other disks rest on its layers. */
export async function checkReplicaDelete(store: Inventory, id: string): Promise<Replica> {
  const r = await store.replicas.get(id);
  if (!r) throw notFound("replica", id, "id");
  const pending = await pendingJobFor(store, id);
  if (pending) throw conflict(`replica ${id} is being repaired by job ${pending.id}; cancel it or wait`, "id");
  const owned = await store.layers.list({ ownerKind: "replica", ownerId: id });
  const reliers: string[] = [];
  for (const l of owned) reliers.push(...(await reliersOf(store, l.path, id)));
  if (reliers.length > 0) throw conflict(`replica ${id} backs other disks: ${[...new Set(reliers)].join(", ")}`, "id");
  return r;
}

/**
 * Deletes a replica and the layers it copied (layers it reused stay): records first, checked
 * again in their transaction, then its folder. `beforeCommit` gets where its files lie before
 * any record changes (a job records it as its intent). Throws like `checkReplicaDelete`.
 */
export async function deleteReplica(ctx: OpContext, id: string, beforeCommit?: (files: ReplicaFiles) => Promise<void> | void): Promise<void> {
  const r = await checkReplicaDelete(ctx.store, id);
  const files: ReplicaFiles = { replicaId: id, targetDatastoreId: r.targetDatastoreId };
  await beforeCommit?.(files);
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "replica-delete:after-intent");
  await ctx.store.tx(async (s) => {
    await checkReplicaDelete(s, id);
    await s.replicas.delete(id);
    for (const l of await s.layers.list({ ownerKind: "replica", ownerId: id })) await s.layers.delete(l.id);
  });
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "replica-delete:after-commit");
  await removeReplicaFiles(ctx, files);
  ctx.log.info({ replicaId: id }, "replica deleted");
}

/** Removes a deleted replica's folder and rewrites its datastore's catalog; safe to run again after a crash. */
export async function removeReplicaFiles(ctx: OpContext, files: ReplicaFiles): Promise<void> {
  const ds = await ctx.store.datastores.get(files.targetDatastoreId);
  if (!ds) return;
  await removeOwnedTree(engineDir(ds.path), replicaDir(ds.path, files.replicaId));
  await syncCatalog(ctx.store, ds.id);
}

// Running a plan

interface RunArgs {
  plan: ReplicationPlan;
  replicaId: string;
  target: Datastore;
  mode: "create" | "repair";
  verify: boolean;
  sourceTop: string;
}

/** What each copy step cost, by position. */
type CopiedBytes = Map<number, number>;

/**
 * Records the intent, makes the copies (bottom layer first, so every file renamed into place
 * already has its parent), re-points kept layers, verifies when asked, then runs `commit`
 * (which must write the records in one transaction). Undoes everything on any failure.
 */
async function carryOut(
  ctx: OpContext,
  args: RunArgs,
  commit: (copied: CopiedBytes, runId: string, verified: boolean | null) => Promise<ReplicationRun>,
): Promise<ReplicationRun> {
  const { plan, replicaId, target } = args;
  const copies = plan.steps.filter((s): s is CopyStep => s.action === "copy").sort((a, b) => b.position - a.position);
  const rebases = plan.steps.filter((s): s is KeepStep => s.action === "keep" && s.rebase);
  const ownBacking = new Map<string, string | null>();
  for (const k of rebases) ownBacking.set(k.targetPath, (await imageInfo(k.targetPath).catch(() => null))?.backingPath ?? null);
  const tmpOf = (s: CopyStep) => path.join(tmpDir(target.path), `${replicaId}.${s.position}-${s.source.contentId}.qcow2.part`);
  const intent: ReplicationIntent = {
    runId: `run-${randomBytes(8).toString("hex")}`,
    mode: args.mode,
    replicaId,
    targetDatastoreId: target.id,
    copies: copies.map((s) => ({ tmpPath: tmpOf(s), finalPath: s.targetPath })),
    rebases: rebases.map((k) => ({ path: k.targetPath, fromBackingPath: ownBacking.get(k.targetPath) ?? null, toBackingPath: k.parentTargetPath })),
  };
  await ctx.recordIntent(intent);
  const copied: CopiedBytes = new Map();
  try {
    await step(ctx, "preparing the target datastore", () => ensureLayout(target.path));
    const total = plan.bytesToCopy;
    let done = 0;
    ctx.progress({ unit: "bytes", done: 0, total, message: copies.length ? "copying layers" : "nothing to copy" });
    for (const [n, s] of copies.entries()) {
      throwIfCancelled(ctx);
      const tmp = tmpOf(s);
      const label = `layer ${s.position} (${path.basename(s.source.path)})`;
      const message = `copying ${label}, ${n + 1} of ${copies.length}`;
      // A leftover of an earlier run of this replica would block the exclusive create.
      await fs.rm(tmp, { force: true });
      const result = await step(ctx, `copying ${label}`, () =>
        copyLayerFile(s.source.path, tmp, {
          signal: ctx.signal,
          rateLimitBytesPerSec: ctx.settings.copyRateLimitBytesPerSec,
          onProgress: (bytes) => ctx.progress({ done: done + Math.min(bytes, s.source.sizeBytes), message }),
        }),
      );
      done += result.bytes;
      copied.set(s.position, result.bytes);
      // The copy still names the source's parent; only its own clusters came along, so the
      // header is re-pointed (unsafe: no data moves) at the parent it has on the target.
      if (s.parentTargetPath !== null) {
        await step(ctx, `re-parenting the copy of ${label}`, () => rebase(tmp, { backingPath: s.parentTargetPath, unsafe: true, signal: ctx.signal }));
      }
      const checked = await step(ctx, `checking the copy of ${label}`, () => check(tmp, { signal: ctx.signal }));
      if (!checked.ok) throw internal(`qemu-img check found problems in the copy of ${label} (${checked.corruptions} corruptions, ${checked.leaks} leaks)`);
      await fsyncPath(tmp);
      await fs.mkdir(path.dirname(s.targetPath), { recursive: true });
      await fs.rename(tmp, s.targetPath);
      ctx.progress({ done, message });
    }
    for (const k of rebases) {
      await step(ctx, `re-parenting ${k.targetPath}`, () => rebase(k.targetPath, { backingPath: k.parentTargetPath, unsafe: true }));
    }
    if (copies.length > 0) await fsyncPath(replicaDir(target.path, replicaId));
    throwIfCancelled(ctx);
    let verified: boolean | null = null;
    if (args.verify) {
      ctx.progress({ message: "comparing with the source" });
      const top = plan.steps[0].targetPath;
      const cmp = await step(ctx, "comparing the replica with the source", () => compare(args.sourceTop, top, { signal: ctx.signal }));
      if (!cmp.identical) throw internal(`the replica ${top} differs from the source ${args.sourceTop}: ${cmp.detail}`);
      verified = true;
    }
    return commit(copied, intent.runId, verified);
  } catch (err) {
    await undoRun(ctx, intent);
    throw err;
  }
}

/** Removes what a run made and puts back the backing files it re-pointed; never throws for files already gone. */
async function undoRun(ctx: OpContext, i: ReplicationIntent): Promise<void> {
  for (const c of i.copies) {
    await fs.rm(c.tmpPath, { force: true });
    await fs.rm(c.finalPath, { force: true });
  }
  for (const r of i.rebases) {
    const present = await fs.stat(r.path).then(
      () => true,
      () => false,
    );
    if (!present) continue;
    await rebase(r.path, { backingPath: r.fromBackingPath, unsafe: true }).catch((err) => {
      ctx.log.error({ err, path: r.path }, "could not restore the backing file of a replica layer");
    });
  }
  const ds = await ctx.store.datastores.get(i.targetDatastoreId);
  if (ds && i.mode === "create") await fs.rmdir(replicaDir(ds.path, i.replicaId)).catch(() => undefined);
}

/** Runs one step of a run: engine errors and cancellation pass through, anything else becomes `internal(name)`. */
async function step<T>(ctx: OpContext, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    if (isEngineError(err)) throw err;
    throw internal(name, err);
  }
}

function runReport(
  runId: string,
  kind: ReplicationRun["kind"],
  plan: ReplicationPlan,
  copied: CopiedBytes,
  verified: boolean | null,
  startedAt: string,
  finishedAt: string,
): ReplicationRun {
  const run: ReplicationRun = {
    runId,
    kind,
    copied: [],
    reused: [],
    kept: [],
    bytesCopied: 0,
    staleLinks: plan.staleLinks,
    refused: plan.refused,
    verified,
    startedAt,
    finishedAt,
  };
  for (const s of plan.steps) {
    if (s.action === "copy") {
      const bytes = copied.get(s.position) ?? 0;
      run.copied.push({ position: s.position, sourcePath: s.source.path, targetPath: s.targetPath, contentId: s.source.contentId, bytes });
      run.bytesCopied += bytes;
    } else if (s.action === "keep") {
      run.kept.push({ position: s.position, targetPath: s.targetPath, contentId: s.source.contentId });
    } else {
      run.reused.push({ position: s.position, targetPath: s.targetPath, contentId: s.contentId });
    }
  }
  return run;
}

function copyRecord(s: CopyStep, datastoreId: string, replicaId: string, now: string): DiskLayer {
  return {
    id: newId("layer"),
    datastoreId,
    path: s.targetPath,
    format: "qcow2",
    virtualSizeBytes: s.source.virtualSizeBytes,
    contentId: s.source.contentId,
    // The copy holds the same clusters as the source layer, made on the same parent content:
    // it keeps the parent content ID the source recorded, so a stale link stays visible.
    parentContentId: s.source.parentContentId,
    backingPath: s.parentTargetPath,
    ownerKind: "replica",
    ownerId: replicaId,
    state: "ready",
    createdAt: now,
  };
}

function replicaLayers(plan: ReplicationPlan, layerIds: Map<number, string>): ReplicaLayer[] {
  return plan.steps.map((s) =>
    s.action === "reuse"
      ? {
          position: s.position,
          path: s.targetPath,
          contentId: s.contentId,
          parentContentId: s.parentContentId,
          virtualSizeBytes: s.virtualSizeBytes,
          format: "qcow2",
          origin: "reused",
          layerId: null,
          sourcePath: s.source.path,
        }
      : {
          position: s.position,
          path: s.targetPath,
          contentId: s.source.contentId,
          parentContentId: s.source.parentContentId,
          virtualSizeBytes: s.source.virtualSizeBytes,
          format: "qcow2",
          origin: "copied",
          layerId: layerIds.get(s.position) ?? null,
          sourcePath: s.source.path,
        },
  );
}

// Sources, candidates and evidence

function checkSourceChoice(req: { sourcePath?: string | null; templateId?: string | null }): void {
  const hasPath = req.sourcePath !== undefined && req.sourcePath !== null;
  const hasTemplate = req.templateId !== undefined && req.templateId !== null;
  if (hasPath && hasTemplate) throw invalidField("source_disk_path", "give source_disk_path or template_id, not both");
  if (!hasPath && !hasTemplate) throw invalidField("source_disk_path", "is required unless template_id is given");
}

function refuseSameDatastore(source: ResolvedSource, target: Datastore): void {
  if (source.datastore.id === target.id) {
    throw invalidField(
      "target_datastore_id",
      `is datastore ${JSON.stringify(target.name)} (${target.id}), which already holds the source disk; a replica goes to another datastore`,
    );
  }
}

/** Resolves the source chain of a request, top first, with content IDs; throws 4xx EngineErrors naming the source field. */
async function resolveSource(store: Inventory, req: { sourcePath?: string | null; templateId?: string | null }): Promise<ResolvedSource> {
  let field: string;
  let topPath: string;
  let kind: ResolvedSource["kind"];
  let templateId: string | null = null;
  if (req.templateId) {
    field = "template_id";
    kind = "template";
    const t = await store.templates.get(req.templateId);
    if (!t) throw notFound("template", req.templateId, "template_id");
    if (t.state !== "ready") throw conflict(`template ${JSON.stringify(t.name)} is drifted: its disk vanished or changed`, "template_id");
    const layer = await store.layers.get(t.diskLayerId);
    if (!layer) throw internal(`template ${t.id} has no disk layer record`);
    topPath = layer.path;
    templateId = t.id;
  } else {
    field = "source_disk_path";
    kind = "disk";
    const issue = absolutePathProblem(req.sourcePath);
    if (issue) throw invalidField(field, issue);
    topPath = path.resolve(req.sourcePath!);
  }
  const view = await CatalogView.open(store);
  const datastore = view.datastoreOf(topPath);
  if (!datastore) throw invalidField(field, `${topPath} is not inside any datastore`);
  if (pathIsWithin(tmpDir(datastore.path), topPath)) throw invalidField(field, `${topPath} is a half-made file in the engine's tmp folder`);
  const st = await fs.stat(topPath).catch(() => null);
  if (!st || !st.isFile()) throw invalidField(field, `${topPath}: no such file`);
  let infos: ImageInfo[];
  try {
    infos = await imageInfoChain(topPath);
  } catch (err) {
    throw invalidField(field, `cannot read the chain of ${topPath}: ${(err as Error).message}`);
  }
  const confinement = await chainConfinementProblem(infos, await store.datastores.list());
  if (confinement) throw invalidField(field, confinement);
  const layers: PlanSourceLayer[] = [];
  for (const info of infos) {
    if (info.format !== "qcow2") throw invalidField(field, `layer ${info.path} is ${info.format}; only qcow2 chains can be replicated`);
    const vouched = await view.vouch(info, true);
    if (!vouched) {
      throw invalidField(
        field,
        `layer ${info.path} has no content ID: neither the inventory nor a catalog vouches for it (register the chain first: POST /disks/register)`,
      );
    }
    const size = (await fs.stat(info.path)).size;
    layers.push({
      path: info.path,
      format: info.format,
      virtualSizeBytes: info.virtualSizeBytes,
      sizeBytes: size,
      contentId: vouched.contentId,
      parentContentId: vouched.parentContentId,
    });
  }
  return { kind, templateId, topPath, datastore, layers };
}

/**
 * The target catalog's entries under any content ID of the source chain (or a parent ID it
 * recorded), each with what its file and its backing chain say now, the chain's content IDs
 * taken from catalogs only: the catalog is the evidence a datastore offers.
 */
async function gatherCandidates(view: CatalogView, target: Datastore, source: readonly PlanSourceLayer[]): Promise<PlanCandidate[]> {
  const wanted = new Set<string>();
  for (const l of source) {
    wanted.add(l.contentId);
    if (l.parentContentId) wanted.add(l.parentContentId);
  }
  const out: PlanCandidate[] = [];
  for (const e of await view.entries(target)) {
    if (!wanted.has(e.contentId) || pathIsWithin(tmpDir(target.path), e.path)) continue;
    let file: PlanCandidate["file"] = null;
    let chain: PlanCandidate["chain"] = null;
    try {
      const infos = await imageInfoChain(e.path);
      file = { format: infos[0].format, virtualSizeBytes: infos[0].virtualSizeBytes };
      chain = [];
      for (const info of infos) {
        const v = await view.vouch(info, false);
        chain.push({ path: info.path, contentId: v?.contentId ?? null, parentContentId: v?.parentContentId ?? null, virtualSizeBytes: info.virtualSizeBytes });
      }
    } catch {
      const info = await imageInfo(e.path).catch(() => null);
      if (info) file = { format: info.format, virtualSizeBytes: info.virtualSizeBytes };
    }
    out.push({ path: e.path, contentId: e.contentId, file, chain });
  }
  return out;
}

/** The replica's copied layers with whether each may be kept: file there, same size and format, and the catalog still listing its content ID. */
async function ownLayerFacts(view: CatalogView, r: Replica): Promise<PlanOwnLayer[]> {
  const out: PlanOwnLayer[] = [];
  for (const l of r.layers) {
    if (l.origin !== "copied") continue;
    const info = await imageInfo(l.path).catch(() => null);
    const entry = info ? await view.entryFor(l.path) : null;
    const intact =
      info !== null &&
      info.format === l.format &&
      info.virtualSizeBytes === l.virtualSizeBytes &&
      entry !== null &&
      entry.contentId === l.contentId;
    out.push({ position: l.position, path: l.path, contentId: l.contentId, intact, backingPath: info?.backingPath ?? null });
  }
  return out;
}

/** Measures a replica's drift now and refreshes its recorded state when it changed. */
async function measure(store: Inventory, r: Replica, view: CatalogView): Promise<ReplicaView> {
  const drift: ReplicaDrift[] = [];
  // One qemu-img call reads the whole chain when it is intact (the common case), none while a
  // stat finds its files as last read; a broken chain is then examined layer by layer to say
  // which layer is at fault.
  const chain = await inspectChainCached(r.diskPath).catch(() => null);
  const whole = chain !== null && chain.length === r.layers.length && chain.every((info, i) => info.path === r.layers[i].path);
  for (const [i, l] of r.layers.entries()) {
    const reason = await layerDrift(view, l, r.layers[i + 1]?.path ?? null, whole ? chain[i] : undefined);
    if (reason) drift.push({ position: l.position, path: l.path, reason });
  }
  const state = drift.length > 0 ? "drifted" : "ready";
  if (state !== r.state) {
    await store.tx(async (s) => {
      if (await s.replicas.get(r.id)) await s.replicas.update(r.id, { state });
    });
  }
  return { ...r, state, drift };
}

type LayerFacts = Pick<ImageInfo, "format" | "virtualSizeBytes" | "backingPath">;

async function layerDrift(view: CatalogView, l: ReplicaLayer, expectedBacking: string | null, known?: LayerFacts): Promise<string | null> {
  let info: LayerFacts | null | undefined = known;
  if (!info) {
    const present = await fs.stat(l.path).then(
      (s) => s.isFile(),
      () => false,
    );
    if (!present) return "the file is gone";
    info = await imageInfo(l.path).catch(() => null);
    if (!info) return "qemu-img cannot read it";
  }
  if (info.format !== l.format) return `its format is now ${info.format}, not ${l.format}`;
  if (info.virtualSizeBytes !== l.virtualSizeBytes) return `its virtual size is now ${info.virtualSizeBytes} bytes, not ${l.virtualSizeBytes}`;
  if (info.backingPath !== expectedBacking) return `its backing file is now ${info.backingPath ?? "none"}, not ${expectedBacking ?? "none"}`;
  let entry;
  try {
    entry = await view.entryFor(l.path);
  } catch (err) {
    return `its catalog cannot be read (${(err as Error).message})`;
  }
  if (!entry) return "the catalog no longer lists it";
  if (entry.contentId !== l.contentId) return `its content ID is now ${entry.contentId}, not ${l.contentId}`;
  return null;
}

async function pendingJobFor(store: Inventory, replicaId: string) {
  return (await store.jobs.list({ states: ["queued", "running"] }))
    .find((j) => j.kind === REPAIR_REPLICA_KIND && (j.request as RepairReplicaRequest | null)?.replicaId === replicaId);
}

/** Who, besides replica `replicaId`, relies on the file `p`: disk layers backed by it and replicas listing it. */
async function reliersOf(store: Inventory, p: string, replicaId: string): Promise<string[]> {
  const layers = (await store.layers.list()).filter((l) => l.backingPath === p && !(l.ownerKind === "replica" && l.ownerId === replicaId));
  const replicas = (await store.replicas.findUsingPath(p)).filter((x) => x.id !== replicaId);
  return [...layers.map((l) => l.path), ...replicas.map((x) => `replica ${x.id}`)];
}

async function isReliedOn(store: Inventory, p: string, replicaId: string): Promise<boolean> {
  return (await reliersOf(store, p, replicaId)).length > 0;
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
