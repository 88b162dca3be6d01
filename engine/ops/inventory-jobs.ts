/**
 * Changes to the inventory that run as jobs like every other change: template and fleet
 * deletion (`template.delete`, `fleet.delete`), disk registration (`disk.register`) and catalog
 * rescans (`catalog.rescan`). Each records its intent before it changes a record or a file, and
 * recovery at engine start finishes it or finds it never began.
 */
import { JOB_KINDS } from "../model";
import { rescanCatalog, type CatalogRescanReport } from "./catalog-rescan";
import type { OpContext } from "./context";
import { registerDisk, type RegisterDiskRequest, type RegisterDiskResult } from "./disk-register";
import { faultHold } from "./fault-hold";
import { deleteFleet } from "./fleet";
import { deleteTemplate, removeTemplateFiles, type TemplateFiles } from "./template";
import { removeVmFiles, type VmFilesRemoval } from "./vm";

export const DELETE_TEMPLATE_KIND = JOB_KINDS.deleteTemplate;
export const DELETE_FLEET_KIND = JOB_KINDS.deleteFleet;
export const REGISTER_DISK_KIND = JOB_KINDS.registerDisk;
export const RESCAN_CATALOG_KIND = JOB_KINDS.rescanCatalog;

/** A request naming one record by id (a template or fleet to delete, a datastore to rescan). */
export interface RecordIdRequest {
  id: string;
}

interface DeleteTemplateIntent {
  files: TemplateFiles;
}

interface DeleteFleetIntent {
  fleetId: string;
  /** Set just before the members' records go. */
  removal: VmFilesRemoval | null;
}

/** The `template.delete` job: records the template's folder, then deletes record and files (see deleteTemplate). */
export async function runTemplateDelete(ctx: OpContext, req: RecordIdRequest): Promise<{ id: string }> {
  await deleteTemplate(ctx, req.id, (files) => ctx.recordIntent({ files } satisfies DeleteTemplateIntent));
  return { id: req.id };
}

/** After a crash during `template.delete`: once the record is gone its folder goes too (finished); a template still recorded was not touched. */
export async function recoverTemplateDelete(ctx: OpContext, req: RecordIdRequest, intent: unknown): Promise<{ finished: { id: string } | null; detail: string }> {
  const i = intent as DeleteTemplateIntent | null;
  if (!i || (await ctx.store.templates.get(req.id))) return { finished: null, detail: `the engine stopped before template ${req.id}'s record was removed; the template was kept whole` };
  await removeTemplateFiles(ctx, i.files);
  return { finished: { id: req.id }, detail: "" };
}

/** The `fleet.delete` job: records every member's files, then deletes members and fleet (see deleteFleet). */
export async function runFleetDelete(ctx: OpContext, req: RecordIdRequest): Promise<{ id: string }> {
  const intent: DeleteFleetIntent = { fleetId: req.id, removal: null };
  await ctx.recordIntent(intent);
  await deleteFleet(ctx, req.id, (removal) => ctx.recordIntent({ ...intent, removal } satisfies DeleteFleetIntent));
  return { id: req.id };
}

/**
 * After a crash during `fleet.delete`: once its members' records are gone, their files and
 * QEMUs go and then the fleet record (finished); members still recorded were not touched.
 */
export async function recoverFleetDelete(ctx: OpContext, req: RecordIdRequest, intent: unknown): Promise<{ finished: { id: string } | null; detail: string }> {
  const i = intent as DeleteFleetIntent | null;
  const kept = { finished: null, detail: `the engine stopped before fleet ${req.id}'s members were removed; the fleet was kept whole` };
  if (!i) return kept;
  const members = i.removal?.vms ?? [];
  for (const m of members) if (await ctx.store.vms.get(m.id)) return kept;
  // No member left in the inventory: either none was planned (an empty fleet) or their removal committed.
  if (i.removal === null && (await ctx.store.vms.list({ fleetId: req.id })).length > 0) return kept;
  if (i.removal) await removeVmFiles(ctx, i.removal);
  if (await ctx.store.fleets.get(req.id)) await ctx.store.fleets.delete(req.id);
  return { finished: { id: req.id }, detail: "" };
}

/** The `disk.register` job: content IDs for a chain made by hand (see registerDisk). */
export async function runDiskRegister(ctx: OpContext, req: RegisterDiskRequest): Promise<RegisterDiskResult> {
  await ctx.recordIntent({ path: req.path });
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "disk-register:after-intent");
  return registerDisk(ctx, req);
}

/** After a crash during `disk.register`: registration keeps the content IDs layers already have, so it runs again and finishes. */
export async function recoverDiskRegister(ctx: OpContext, req: RegisterDiskRequest): Promise<RegisterDiskResult> {
  return registerDisk(ctx, req);
}

/** The `catalog.rescan` job: a datastore's catalog rebuilt from its files and records (see rescanCatalog). */
export async function runCatalogRescan(ctx: OpContext, req: RecordIdRequest): Promise<CatalogRescanReport> {
  await ctx.recordIntent({ datastoreId: req.id });
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "catalog-rescan:after-intent");
  return rescanCatalog(ctx, req.id);
}

/** After a crash during `catalog.rescan`: a rescan only rebuilds the catalog file (written whole by rename), so it runs again and finishes. */
export async function recoverCatalogRescan(ctx: OpContext, req: RecordIdRequest): Promise<CatalogRescanReport> {
  return rescanCatalog(ctx, req.id);
}
