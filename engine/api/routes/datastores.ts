import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { addDatastore, directContext, getDatastore, listDatastoreLayers, listDatastores, removeDatastore } from "../../ops";
import { CreateDatastoreBody, datastoreLayerToWire, DatastoreLayerWire, datastoreToWire, DatastoreWire, IdParams } from "../schemas";
import type { EngineServices } from "../services";

/** `/datastores`: add, list, show, remove. */
export const datastoreRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const ctx = () => directContext(services.store, services.log, undefined, services.settings);

  app.post<{ Body: CreateDatastoreBody }>(
    "/datastores",
    { schema: { tags: ["datastores"], summary: "Add a datastore", body: CreateDatastoreBody, response: { 201: DatastoreWire } } },
    async (req, reply) => reply.status(201).send(datastoreToWire(await addDatastore(ctx(), req.body))),
  );
  app.get(
    "/datastores",
    { schema: { tags: ["datastores"], summary: "List datastores", response: { 200: Type.Array(DatastoreWire) } } },
    async () => (await listDatastores(ctx())).map(datastoreToWire),
  );
  app.get<{ Params: IdParams }>(
    "/datastores/:id",
    { schema: { tags: ["datastores"], summary: "Show a datastore", params: IdParams, response: { 200: DatastoreWire } } },
    async (req) => datastoreToWire(await getDatastore(ctx(), req.params.id)),
  );
  app.get<{ Params: IdParams }>(
    "/datastores/:id/layers",
    { schema: { tags: ["datastores"], summary: "List the datastore's recorded disk layers (to draw its layer graph)", params: IdParams, response: { 200: Type.Array(DatastoreLayerWire) } } },
    async (req) => (await listDatastoreLayers(services.store, req.params.id)).map(datastoreLayerToWire),
  );
  app.delete<{ Params: IdParams }>(
    "/datastores/:id",
    { schema: { tags: ["datastores"], summary: "Remove a datastore (refused while it holds anything)", params: IdParams } },
    async (req, reply) => {
      await removeDatastore(ctx(), req.params.id);
      return reply.status(204).send();
    },
  );
};
