import type { FastifyPluginAsync } from "fastify";
import { directContext, rescanCatalog } from "../../ops";
import { CatalogRescanWire, IdParams, rescanToWire } from "../schemas";
import type { EngineServices } from "../services";

/** `/datastores/{id}/catalog/rescan`: rebuild a datastore's content-ID catalog from its files and records. */
export const catalogRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.post<{ Params: IdParams }>(
    "/datastores/:id/catalog/rescan",
    {
      schema: {
        tags: ["datastores"],
        summary: "Rebuild a datastore's catalog from its files and records; never invents content IDs",
        params: IdParams,
        response: { 200: CatalogRescanWire },
      },
    },
    async (req) => rescanToWire(await rescanCatalog(directContext(services.store, services.log), req.params.id)),
  );
};
