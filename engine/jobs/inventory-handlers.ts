import { conflict } from "../errors";
import {
  checkFleetDelete,
  checkTemplateDelete,
  DELETE_FLEET_KIND,
  DELETE_TEMPLATE_KIND,
  fleetApplyHost,
  recoverCatalogRescan,
  recoverDiskRegister,
  recoverFleetDelete,
  recoverTemplateDelete,
  REGISTER_DISK_KIND,
  RESCAN_CATALOG_KIND,
  runCatalogRescan,
  runDiskRegister,
  runFleetDelete,
  runTemplateDelete,
  type CatalogRescanReport,
  type RecordIdRequest,
  type RegisterDiskRequest,
  type RegisterDiskResult,
} from "../ops";
import type { Inventory } from "../store";
import type { JobHandler } from "./handler";

/** `template.delete`: a template's record and files removed. */
export const deleteTemplateHandler: JobHandler<RecordIdRequest, { id: string }> = {
  kind: DELETE_TEMPLATE_KIND,
  immediate: true,
  admit: async (store, req) => {
    await checkTemplateDelete(store, req.id);
    await refuseTwice(store, DELETE_TEMPLATE_KIND, req.id, "template");
  },
  run: async (ctx, req) => ({ result: await runTemplateDelete(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverTemplateDelete(ctx, req, intent);
    return finished ? { outcome: "finished", result: finished, targetId: req.id } : { outcome: "rolled-back", detail };
  },
};

/** `fleet.delete`: a fleet, every member with its disk and QEMU, removed. */
export const deleteFleetHandler: JobHandler<RecordIdRequest, { id: string }> = {
  kind: DELETE_FLEET_KIND,
  immediate: true,
  // A fleet over a host's own datastores is removed by that host, which reads their files.
  hostFor: (store, req) => fleetApplyHost(store, { fleetId: req.id }),
  admit: async (store, req) => {
    await checkFleetDelete(store, req.id);
    await refuseTwice(store, DELETE_FLEET_KIND, req.id, "fleet");
  },
  run: async (ctx, req) => ({ result: await runFleetDelete(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverFleetDelete(ctx, req, intent);
    return finished ? { outcome: "finished", result: finished, targetId: req.id } : { outcome: "rolled-back", detail };
  },
};

/** `disk.register`: content IDs for the layers of a chain made by hand inside a datastore. */
export const registerDiskHandler: JobHandler<RegisterDiskRequest, RegisterDiskResult> = {
  kind: REGISTER_DISK_KIND,
  immediate: true,
  run: async (ctx, req) => ({ result: await runDiskRegister(ctx, req) }),
  recover: async (ctx, req) => ({ outcome: "finished", result: await recoverDiskRegister(ctx, req) }),
};

/** `catalog.rescan`: a datastore's content-ID catalog rebuilt from its files and records. */
export const rescanCatalogHandler: JobHandler<RecordIdRequest, CatalogRescanReport> = {
  kind: RESCAN_CATALOG_KIND,
  immediate: true,
  run: async (ctx, req) => ({ result: await runCatalogRescan(ctx, req), targetId: req.id }),
  recover: async (ctx, req) => ({ outcome: "finished", result: await recoverCatalogRescan(ctx, req), targetId: req.id }),
};

/** Refuses a second deletion of `id` while a job of `kind` on it is queued or running (409, id). */
export async function refuseTwice(store: Inventory, kind: string, id: string, noun: string): Promise<void> {
  const pending = (await store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === kind && (j.request as RecordIdRequest).id === id);
  if (pending) throw conflict(`${noun} ${id} is being deleted by job ${pending.id}`, "id");
}
