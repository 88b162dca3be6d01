import { promises as fs } from "node:fs";
import { ensureLayout, fullCopy, newContentId } from "../../disk";
import { newId, nowIso, type DiskLayer } from "../../model";
import { throwIfCancelled, type OpContext } from "../context";
import {
  forEachBounded,
  provisionError,
  removeTargetFiles,
  targetFiles,
  type CloneSource,
  type CloneTarget,
  type DiskProvisioner,
  type ProvisionedClone,
} from "./provisioner";

/** How many copies one request makes at once: two keep a disk busy without starving the rest. */
export const FULL_COPY_CONCURRENCY = 2;

/**
 * Gives each clone an independent full copy of the template's disk (a reflink where the
 * filesystem has one), made under a temporary name in the datastore's tmp folder and renamed
 * into the VM's home once complete and fsynced. Copies honour the engine's copy rate limit.
 */
export class FullCopyProvisioner implements DiskProvisioner {
  constructor(private readonly concurrency = FULL_COPY_CONCURRENCY) {}

  async provision(
    ctx: OpContext,
    source: CloneSource,
    targets: readonly CloneTarget[],
    onDone?: (clone: ProvisionedClone) => void,
  ): Promise<ProvisionedClone[]> {
    const out: ProvisionedClone[] = new Array(targets.length);
    await forEachBounded(targets, this.concurrency, ctx.signal, async (target, i, signal) => {
      out[i] = await this.copyOne(ctx, source, target, signal);
      onDone?.(out[i]);
    });
    return out;
  }

  private async copyOne(ctx: OpContext, source: CloneSource, target: CloneTarget, signal: AbortSignal): Promise<ProvisionedClone> {
    const root = target.datastore.path;
    const files = targetFiles(root, target.vmId);
    let recorded = false;
    try {
      await ensureLayout(root);
      await fullCopy(source.layer.path, files.partPath, { signal, rateLimitBytesPerSec: ctx.settings.copyRateLimitBytesPerSec });
      throwIfCancelled(ctx);
      await fs.mkdir(files.homeDir, { recursive: true });
      await fs.rename(files.partPath, files.diskPath);
      const layer: DiskLayer = {
        id: newId("layer"),
        datastoreId: target.datastore.id,
        path: files.diskPath,
        format: "qcow2",
        virtualSizeBytes: source.layer.virtualSizeBytes,
        contentId: newContentId(),
        parentContentId: null,
        backingPath: null,
        ownerKind: "vm",
        ownerId: target.vmId,
        state: "ready",
        createdAt: nowIso(),
      };
      const vm = await ctx.store.tx(async (s) => {
        await s.layers.insert(layer);
        const v = await target.makeVm(s, layer, "copy");
        await s.vms.insert(v);
        return v;
      });
      recorded = true;
      return { vm, layer };
    } catch (err) {
      if (!recorded) await removeTargetFiles(root, target.vmId);
      throw provisionError(ctx, `copying the disk of template ${source.template.name} for ${target.vmId} on datastore ${target.datastore.name}`, err);
    }
  }
}
