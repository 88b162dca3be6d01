import { promises as fs } from "node:fs";
import * as path from "node:path";
import { createOverlay, newContentId } from "../../disk";
import { incompatible } from "../../errors";
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

/** Overlays made at once by one request. */
const LINKED_CONCURRENCY = 4;

/**
 * Gives each clone a qcow2 overlay backed by the template's disk, so it holds only what the
 * clone writes. The overlay must live on the template's datastore; any other target is
 * refused with CF_INCOMPATIBLE naming `datastore_id`.
 */
export class LinkedProvisioner implements DiskProvisioner {
  async provision(
    ctx: OpContext,
    source: CloneSource,
    targets: readonly CloneTarget[],
    onDone?: (clone: ProvisionedClone) => void,
  ): Promise<ProvisionedClone[]> {
    const out: ProvisionedClone[] = new Array(targets.length);
    // An overlay costs a qemu-img start and a few metadata writes, so several at once overlap well.
    await forEachBounded(targets, LINKED_CONCURRENCY, ctx.signal, async (target, i) => {
      throwIfCancelled(ctx);
      out[i] = await this.linkOne(ctx, source, target);
      onDone?.(out[i]);
    });
    return out;
  }

  private async linkOne(ctx: OpContext, source: CloneSource, target: CloneTarget): Promise<ProvisionedClone> {
    if (target.datastore.id !== source.datastore.id) {
      throw incompatible(
        `a linked clone must live on its template's datastore ${source.datastore.name} (${source.datastore.id}), not ${target.datastore.name}`,
        "datastore_id",
      );
    }
    const root = target.datastore.path;
    const files = targetFiles(root, target.vmId);
    // Made beside its final name rather than in tmp/: the backing path is stored relative to
    // the overlay's folder (so the datastore can be mounted elsewhere) and must not move.
    const part = `${files.diskPath}.part`;
    let recorded = false;
    try {
      await fs.mkdir(files.homeDir, { recursive: true });
      await createOverlay(part, {
        backingPath: path.relative(files.homeDir, source.layer.path),
        sizeBytes: source.layer.virtualSizeBytes,
        signal: ctx.signal,
      });
      await fs.rename(part, files.diskPath);
      const layer: DiskLayer = {
        id: newId("layer"),
        datastoreId: target.datastore.id,
        path: files.diskPath,
        format: "qcow2",
        virtualSizeBytes: source.layer.virtualSizeBytes,
        contentId: newContentId(),
        parentContentId: source.layer.contentId,
        backingPath: source.layer.path,
        ownerKind: "vm",
        ownerId: target.vmId,
        state: "ready",
        createdAt: nowIso(),
      };
      const vm = await ctx.store.tx(async (s) => {
        // The template's disk must still be the one the overlay points at.
        const base = await s.layers.get(source.layer.id);
        if (!base || base.path !== source.layer.path) throw incompatible(`template ${source.template.name} changed its disk while it was being cloned`, "template_id");
        await s.layers.insert(layer);
        const v = await target.makeVm(s, layer, "linked");
        await s.vms.insert(v);
        return v;
      });
      recorded = true;
      return { vm, layer };
    } catch (err) {
      if (!recorded) await removeTargetFiles(root, target.vmId);
      throw provisionError(ctx, `creating the overlay of ${target.vmId} on template ${source.template.name}`, err);
    }
  }
}
