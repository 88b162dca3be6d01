import type { FastifyPluginAsync } from "fastify";
import type { CatalogRescanReport } from "../../ops";
import { notFound } from "../../errors";
import { JOB_KINDS } from "../../model";
import { submitAndAnswer } from "./job-answer";
import { CatalogRescanWire, IdParams, JobWire, rescanToWire } from "../schemas";
import type { EngineServices } from "../services";

/** `/datastores/{id}/catalog/rescan`: rebuild a datastore's content-ID catalog from its files and records. */
export const catalogRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.post<{ Params: IdParams }>(
    "/datastores/:id/catalog/rescan",
    {
      schema: {
        tags: ["datastores"],
        summary: "Rebuild a datastore's catalog from its files and records; never invents content IDs (a `catalog.rescan` job); answers the report once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        response: { 200: CatalogRescanWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      if (!(await services.store.datastores.get(req.params.id))) throw notFound("datastore", req.params.id, "id");
      return submitAndAnswer(services, req, reply, JOB_KINDS.rescanCatalog, { id: req.params.id }, (r) => rescanToWire(r as CatalogRescanReport));
    },
  );
};
