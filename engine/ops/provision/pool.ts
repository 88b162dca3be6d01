import { mkdirSync, renameSync, rmSync } from "node:fs";
import * as path from "node:path";
import type { DiskLayer, Pool } from "../../model";
import type { Inventory } from "../../store";
import { throwIfCancelled, type OpContext } from "../context";
import { dropCopyRecords, removeFiles, sortPoolCopies } from "../pool";
import {
  provisionError,
  syncDirs,
  targetFiles,
  type CloneSource,
  type CloneTarget,
  type DiskProvisioner,
  type ProvisionedClone,
} from "./provisioner";

/**
 * Hands out ready pool copies: for each target whose datastore has a pool of the template,
 * moves a ready copy into the VM's home with a rename (same filesystem, O(1)); the targets it
 * cannot serve go to `base`, the way a cache wraps the factory behind it. Copies made from an
 * older template content ID, or whose file vanished, are discarded and never handed out.
 */
export class PoolProvisioner implements DiskProvisioner {
  constructor(private readonly base: DiskProvisioner) {}

  async provision(
    ctx: OpContext,
    source: CloneSource,
    targets: readonly CloneTarget[],
    onDone?: (clone: ProvisionedClone) => void,
  ): Promise<ProvisionedClone[]> {
    const out: ProvisionedClone[] = new Array(targets.length);
    const rest: number[] = [];
    const byDatastore = new Map<string, number[]>();
    targets.forEach((t, i) => byDatastore.set(t.datastore.id, [...(byDatastore.get(t.datastore.id) ?? []), i]));

    const handed: ProvisionedClone[] = [];
    for (const [datastoreId, indexes] of byDatastore) {
      throwIfCancelled(ctx);
      const pool = await ctx.store.pools.find(source.template.id, datastoreId);
      if (!pool) {
        rest.push(...indexes);
        continue;
      }
      let claimed: { taken: ProvisionedClone[]; staleFiles: string[] };
      try {
        claimed = await ctx.store.tx(async (s) => claim(s, pool, source, indexes.map((i) => targets[i])));
      } catch (err) {
        throw provisionError(ctx, `moving pool copies into VM homes on datastore ${targets[indexes[0]].datastore.name}`, err);
      }
      claimed.taken.forEach((clone, k) => (out[indexes[k]] = clone));
      handed.push(...claimed.taken);
      rest.push(...indexes.slice(claimed.taken.length));
      await removeFiles(ctx, claimed.staleFiles);
    }
    // One fsync per folder for the whole batch: each rename is already atomic, this only makes
    // the new names survive a power cut.
    await syncDirs(handed.flatMap((c) => [path.dirname(c.layer.path), path.dirname(path.dirname(c.layer.path))]));
    for (const c of handed) onDone?.(c);

    if (rest.length > 0) {
      const made = await this.base.provision(
        ctx,
        source,
        rest.map((i) => targets[i]),
        onDone,
      );
      made.forEach((clone, k) => (out[rest[k]] = clone));
    }
    return out;
  }
}

/**
 * Inside one transaction: moves up to `targets.length` usable copies of `pool` into the targets'
 * homes and records each as its VM's disk. The renames run inside the transaction so a copy is
 * either still in the pool with its record or in a VM's home with the VM's record; on a throw
 * the files are moved back before the rollback restores the records.
 */
async function claim(s: Inventory, pool: Pool, source: CloneSource, targets: CloneTarget[]): Promise<{ taken: ProvisionedClone[]; staleFiles: string[] }> {
  const { usable, stale } = await sortPoolCopies(s, pool, source.layer.contentId, { checkFiles: true });
  await dropCopyRecords(s, stale);
  const moved: [string, string][] = [];
  const homes: string[] = [];
  const taken: ProvisionedClone[] = [];
  try {
    for (let k = 0; k < Math.min(targets.length, usable.length); k++) {
      const { copy, layer } = usable[k];
      const target = targets[k];
      const files = targetFiles(target.datastore.path, target.vmId);
      mkdirSync(files.homeDir, { recursive: true });
      homes.push(files.homeDir);
      renameSync(layer.path, files.diskPath);
      moved.push([layer.path, files.diskPath]);
      await s.pools.deleteCopy(copy.layerId);
      await s.layers.transfer(layer.id, { path: files.diskPath, ownerKind: "vm", ownerId: target.vmId });
      const vmLayer: DiskLayer = { ...layer, path: files.diskPath, ownerKind: "vm", ownerId: target.vmId };
      const vm = await target.makeVm(s, vmLayer, "pool");
      await s.vms.insert(vm);
      taken.push({ vm, layer: vmLayer });
    }
  } catch (err) {
    for (const [from, to] of moved.reverse()) {
      try {
        renameSync(to, from);
      } catch {
        // Left where it is, the file has no record and the next start removes it.
      }
    }
    for (const h of homes) rmSync(h, { recursive: true, force: true });
    throw err;
  }
  return { taken, staleFiles: stale.flatMap((x) => (x.layer ? [x.layer.path] : [])) };
}
