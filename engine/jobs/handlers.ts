import { conflict } from "../errors";
import {
  admitTemplateName,
  getTemplateView,
  IMPORT_TEMPLATE_KIND,
  importTemplate,
  recoverTemplateImport,
  type ImportTemplateRequest,
  type TemplateView,
} from "../ops";
import type { JobHandler } from "./handler";

/** `template.import`: one template from a disk image. */
export const importTemplateHandler: JobHandler<ImportTemplateRequest, TemplateView> = {
  kind: IMPORT_TEMPLATE_KIND,
  admit: (store, req) => {
    if (!store.getDatastore(req.datastoreId)) throw conflict(`datastore ${req.datastoreId} was removed`, "datastore_id");
    admitTemplateName(store, req);
  },
  run: async (ctx, req) => {
    const view = await importTemplate(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, _req, intent) => {
    const { finished } = await recoverTemplateImport(ctx, intent);
    if (finished) return { outcome: "finished", result: getTemplateView(ctx.store, finished.id), targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped during the import; every file it made was removed" };
  },
};

/** Every job kind the engine runs. */
export const allHandlers: JobHandler[] = [importTemplateHandler as JobHandler];
