import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS, LOCAL_HOST_ID } from "../../model";
import { checkDatastoreAdd, checkDatastoreRemove, datastoreHostOf, directContext, type AddDatastoreRequest, getDatastore, listDatastoreLayers, listDatastores, type DatastoreStatus } from "../../ops";
import { CreateDatastoreBody, datastoreLayerToWire, DatastoreLayerWire, datastoreToWire, DatastoreWire, IdParams, JobWire } from "../schemas";
import type { EngineServices } from "../services";
import { hasPriorJob, submitAndAnswer } from "./job-answer";

/** `/datastores`: add (a `datastore.create` job), list, show, remove (a `datastore.delete` job). */
export const datastoreRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const ctx = () => directContext(services.store, services.log, undefined, services.settings);

  app.post<{ Body: CreateDatastoreBody }>(
    "/datastores",
    {
      schema: {
        tags: ["datastores"],
        summary: "Add a datastore (a `datastore.create` job); 201 with it once done, or 202 with the job on `Prefer: respond-async`",
        body: CreateDatastoreBody,
        response: { 201: DatastoreWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      const request: AddDatastoreRequest = {
        name: req.body.name,
        path: req.body.path,
        hostId: datastoreHostOf({ shared: req.body.shared, hostId: req.body.host_id }, services.hostId ?? LOCAL_HOST_ID),
      };
      // A retried request answers with its job; the name it took is no conflict then.
      if (!(await hasPriorJob(services, req))) await checkDatastoreAdd(ctx(), request);
      return submitAndAnswer(services, req, reply, JOB_KINDS.createDatastore, request, (ds) => reply.status(201).send(datastoreToWire(ds as DatastoreStatus)));
    },
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
    {
      schema: {
        tags: ["datastores"],
        summary: "Remove a datastore (a `datastore.delete` job; refused while it holds anything); 204 once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        response: { 204: Type.Null(), 202: JobWire },
      },
    },
    async (req, reply) => {
      if (!(await hasPriorJob(services, req))) await checkDatastoreRemove(services.store, req.params.id);
      return submitAndAnswer(services, req, reply, JOB_KINDS.deleteDatastore, { id: req.params.id }, () => reply.status(204).send());
    },
  );
};
