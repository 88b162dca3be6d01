import { existsSync, promises as fs } from "node:fs";
import { engineDir, isAbortError, partPath, removeOwnedTree, vmDir, vmDiskPath } from "../../disk";
import { conflict, internal, isEngineError, isNoSpaceError, noSpace, notFound } from "../../errors";
import type { Datastore, DiskLayer, ProvisionedBy, Template, Vm } from "../../model";
import type { Inventory } from "../../store";
import type { OpContext } from "../context";

/** The template disk clones are made from, read in one go so every clone sees the same content ID. */
export interface CloneSource {
  template: Template;
  /** The template's disk layer. */
  layer: DiskLayer;
  /** The datastore holding the template's disk. */
  datastore: Datastore;
}

/** One new VM whose disk is to be made on `datastore`, in `vmDir(datastore.path, vmId)`. */
export interface CloneTarget {
  vmId: string;
  datastore: Datastore;
  /**
   * Builds the VM record for the disk layer just made; called inside the transaction that
   * records the disk, so it may read the store (to pick a free name) and throw to refuse.
   */
  makeVm(s: Inventory, layer: DiskLayer, provisionedBy: ProvisionedBy): Promise<Vm>;
}

/** A VM whose disk was made and recorded, with its disk layer. */
export interface ProvisionedClone {
  vm: Vm;
  layer: DiskLayer;
}

/**
 * One way to give new VMs their disks (pool move, full copy, linked overlay). `provision`
 * makes and records the disks of `targets`, calling `onDone` as each is recorded, and resolves
 * with them in target order. On failure or cancellation it removes what it half-made and
 * throws an EngineError naming the step; clones it finished before that stay recorded.
 */
export interface DiskProvisioner {
  provision(
    ctx: OpContext,
    source: CloneSource,
    targets: readonly CloneTarget[],
    onDone?: (clone: ProvisionedClone) => void,
  ): Promise<ProvisionedClone[]>;
}

/** The files a target may leave while its disk is being made: its home folder and its temporary copy. */
export function targetFiles(root: string, vmId: string): { homeDir: string; diskPath: string; partPath: string } {
  return { homeDir: vmDir(root, vmId), diskPath: vmDiskPath(root, vmId), partPath: partPath(root, vmId) };
}

/** Removes whatever a target that was not recorded may have left; never throws for a missing file. */
export async function removeTargetFiles(root: string, vmId: string): Promise<void> {
  const f = targetFiles(root, vmId);
  await Promise.all([fs.rm(f.partPath, { force: true }), removeOwnedTree(engineDir(root), f.homeDir)]);
}

/**
 * The template `templateId` with its disk, ready to clone; throws 404 naming `field` when it
 * is unknown, 409 when its disk record or file is gone (it is drifted until repaired).
 */
export async function cloneSource(store: Inventory, templateId: string, field: string): Promise<CloneSource> {
  const template = await store.templates.get(templateId);
  if (!template) throw notFound("template", templateId, field);
  const layer = await store.layers.get(template.diskLayerId);
  const datastore = await store.datastores.get(template.datastoreId);
  if (!layer || !datastore || layer.state !== "ready" || !existsSync(layer.path)) {
    throw conflict(`template ${JSON.stringify(template.name)} (${template.id}) has lost its disk; it cannot be cloned`, field);
  }
  return { template, layer, datastore };
}

/**
 * The error to throw for a failure during `step`: the cancellation reason once the op was
 * cancelled, engine errors as they are, a full filesystem as CF_NO_SPACE, anything else as an
 * internal error naming the step.
 */
export function provisionError(ctx: OpContext, step: string, err: unknown): unknown {
  if (ctx.signal.aborted) return ctx.signal.reason ?? err;
  if (isEngineError(err) || isAbortError(err)) return err;
  if (isNoSpaceError(err)) return noSpace(step, err);
  return internal(step, err);
}

/**
 * Runs `work` over `items` with at most `limit` at a time, in order of start. The first failure
 * aborts the signal handed to the others and is thrown once every started item has settled.
 */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  parent: AbortSignal,
  work: (item: T, index: number, signal: AbortSignal) => Promise<void>,
): Promise<void> {
  const abort = new AbortController();
  const onParentAbort = () => abort.abort(parent.reason);
  if (parent.aborted) onParentAbort();
  parent.addEventListener("abort", onParentAbort, { once: true });
  let next = 0;
  let firstError: { err: unknown } | null = null;
  const lane = async () => {
    while (next < items.length && !abort.signal.aborted) {
      const i = next++;
      try {
        await work(items[i], i, abort.signal);
      } catch (err) {
        if (!firstError) firstError = { err };
        abort.abort(err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  } finally {
    parent.removeEventListener("abort", onParentAbort);
  }
  if (firstError) throw (firstError as { err: unknown }).err;
  if (parent.aborted) throw parent.reason;
}

/** Makes `dir` and its parents durable after renames into it, best effort (a power cut is the only thing it guards against). */
export async function syncDirs(dirs: Iterable<string>): Promise<void> {
  await Promise.all(
    [...new Set(dirs)].map(async (d) => {
      const fh = await fs.open(d, "r").catch(() => null);
      if (!fh) return;
      try {
        await fh.sync();
      } catch {
        // Some filesystems refuse fsync on a directory; the rename is still atomic there.
      } finally {
        await fh.close();
      }
    }),
  );
}
