import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { formatBytes, print } from "../output";
import type { CatalogRescanWire } from "../../client";

function describeRescan(r: CatalogRescanWire): string {
  const lines = [`catalog ${r.catalog_path}: kept ${r.kept.length}, dropped ${r.dropped.length}, unknown ${r.unknown.length}`];
  if (r.previous_catalog_problem) lines.push(`  the old catalog could not be read (${r.previous_catalog_problem}); rebuilt from the records`);
  for (const k of r.kept) lines.push(`  kept     ${k.path} (${k.content_id}, ${k.by})`);
  for (const d of r.dropped) lines.push(`  dropped  ${d.path} (${d.content_id}): ${d.reason}`);
  for (const u of r.unknown) lines.push(`  unknown  ${u.path} (${u.format}, ${formatBytes(u.virtual_size_bytes)}): no content ID; register it to replicate it`);
  for (const id of r.drifted_layers) lines.push(`  drifted  layer ${id}`);
  return lines.join("\n");
}

/** `clonefleet catalog rescan DATASTORE`. */
export function registerCatalogCommands(program: Command, globals: () => GlobalOptions): void {
  const catalog = program.command("catalog").description("the content-ID catalog each datastore keeps");
  catalog
    .command("rescan <datastore>")
    .description("rebuild a datastore's catalog from its files and records (never invents content IDs)")
    .action(async (datastore: string) => {
      const g = globals();
      print(g.json, await clientFor(g).catalogs.rescan(datastore), describeRescan);
    });
}
