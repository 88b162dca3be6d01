import { promises as fs } from "node:fs";
import * as path from "node:path";
import { catalogPath, imageInfo, readCatalog, tmpDir, writeCatalog, type CatalogEntry } from "../disk";
import { notFound } from "../errors";
import { pathIsWithin } from "../model";
import { foreignCatalogEntries, inventoryCatalogEntries, withCatalogLock } from "./catalog-sync";
import type { OpContext } from "./context";

/** What a catalog rescan kept, dropped and could not vouch for. */
export interface CatalogRescanReport {
  datastoreId: string;
  catalogPath: string;
  /** Entries in the new catalog, and who vouches for each. */
  kept: { path: string; contentId: string; by: "inventory" | "catalog" }[];
  /** Entries of the old catalog left out, and why. */
  dropped: { path: string; contentId: string; reason: string }[];
  /** Disk images on the datastore that nothing vouches for: listed without a content ID (none is made up). */
  unknown: { path: string; format: string; virtualSizeBytes: number }[];
  /** Inventory layers whose files were gone or changed; they were marked drifted. */
  driftedLayers: string[];
  /** Why the old catalog could not be read, when it could not (it was rebuilt from the records alone). */
  previousCatalogProblem: string | null;
}

/**
 * Rebuilds a datastore's catalog from its files and the records, for datastores filled by
 * another engine or by hand: inventory layers whose files are there unchanged are listed (those
 * whose files are gone or changed are marked drifted); entries of the old catalog that no record
 * holds are kept only when their file is outside the engine's own folder and still has the
 * recorded virtual size and format; other disk images are reported as unknown and get no entry.
 * Throws 404 for an unknown datastore.
 */
export async function rescanCatalog(ctx: OpContext, datastoreId: string): Promise<CatalogRescanReport> {
  const ds = await ctx.store.datastores.get(datastoreId);
  if (!ds) throw notFound("datastore", datastoreId, "id");
  const report: CatalogRescanReport = {
    datastoreId: ds.id,
    catalogPath: catalogPath(ds.path),
    kept: [],
    dropped: [],
    unknown: [],
    driftedLayers: [],
    previousCatalogProblem: null,
  };
  await withCatalogLock(ds.id, async () => {
    let previous: CatalogEntry[] = [];
    try {
      previous = await readCatalog(ds.path);
    } catch (err) {
      report.previousCatalogProblem = (err as Error).message;
    }
    const previousByPath = new Map(previous.map((e) => [e.path, e]));

    for (const layer of await ctx.store.layers.list({ datastoreId: ds.id })) {
      if (layer.state !== "ready") continue;
      const info = await imageInfo(layer.path).catch(() => null);
      const problem = !info
        ? "its file is gone or unreadable"
        : info.format !== layer.format || info.virtualSizeBytes !== layer.virtualSizeBytes
          ? `its file no longer matches its record (format ${info.format}, virtual size ${info.virtualSizeBytes} bytes)`
          : null;
      if (problem) {
        await ctx.store.tx(async (s) => await s.layers.update(layer.id, { state: "drifted" }));
        report.driftedLayers.push(layer.id);
        const old = previousByPath.get(layer.path);
        if (old) report.dropped.push({ path: layer.path, contentId: old.contentId, reason: `inventory record: ${problem}` });
      }
    }
    // A template whose disk drifted is drifted too, as reconciliation at start would find.
    for (const t of await ctx.store.templates.list({ datastoreId: ds.id })) {
      if (t.state === "ready" && report.driftedLayers.includes(t.diskLayerId)) await ctx.store.tx(async (s) => await s.templates.setState(t.id, "drifted"));
    }
    const fromInventory = await inventoryCatalogEntries(ctx.store, ds);
    for (const e of fromInventory) report.kept.push({ path: e.path, contentId: e.contentId, by: "inventory" });
    const inventoryPaths = new Set((await ctx.store.layers.list({ datastoreId: ds.id })).map((l) => l.path));

    const foreign = await foreignCatalogEntries(ctx.store, ds, previous);
    const foreignSet = new Set(foreign);
    const keptForeign: CatalogEntry[] = [];
    for (const e of previous) {
      if (inventoryPaths.has(e.path)) continue;
      if (!foreignSet.has(e)) {
        report.dropped.push({ path: e.path, contentId: e.contentId, reason: "it lies in the engine's own folder but no record owns it" });
        continue;
      }
      const info = await imageInfo(e.path).catch(() => null);
      const reason = !info
        ? "its file is gone or unreadable"
        : info.format !== e.format
          ? `its format is now ${info.format}, not ${e.format}`
          : info.virtualSizeBytes !== e.virtualSizeBytes
            ? `its virtual size is now ${info.virtualSizeBytes} bytes, not ${e.virtualSizeBytes}`
            : null;
      if (reason) {
        report.dropped.push({ path: e.path, contentId: e.contentId, reason });
        continue;
      }
      keptForeign.push(e);
      report.kept.push({ path: e.path, contentId: e.contentId, by: "catalog" });
    }

    const vouched = new Set([...fromInventory, ...keptForeign].map((e) => e.path));
    const skip = new Set([catalogPath(ds.path)]);
    for (const file of await walkFiles(ds.path, tmpDir(ds.path))) {
      if (vouched.has(file) || skip.has(file) || inventoryPaths.has(file)) continue;
      const info = await imageInfo(file).catch(() => null);
      // Any file reads as raw to qemu-img, so only real image formats count as disks here.
      if (!info || info.format === "raw") continue;
      report.unknown.push({ path: file, format: info.format, virtualSizeBytes: info.virtualSizeBytes });
    }

    await writeCatalog(ds.path, [...fromInventory, ...keptForeign]);
  });
  report.kept.sort((a, b) => a.path.localeCompare(b.path));
  ctx.log.info(
    { datastoreId: ds.id, kept: report.kept.length, dropped: report.dropped.length, unknown: report.unknown.length },
    "catalog rescanned",
  );
  return report;
}

/** Regular files below `dir`, symlinks not followed, the folder `skipDir` left out. */
async function walkFiles(dir: string, skipDir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (pathIsWithin(skipDir, full)) continue;
      out.push(...await walkFiles(full, skipDir));
    } else if (e.isFile()) {
      out.push(full);
    }
  }
  return out;
}
