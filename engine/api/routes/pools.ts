import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS } from "../../model";
import { checkPoolDelete, checkPoolRequest, checkPoolResize, getPoolView, listPoolViews, type PoolView, type ResizePoolRequest } from "../../ops";
import { CreatePoolBody, createPoolFromWire, IdParams, JobWire, PoolListQuery, poolToWire, PoolWire, UpdatePoolBody } from "../schemas";
import type { EngineServices } from "../services";
import { hasPriorJob, submitAndAnswer } from "./job-answer";

/**
 * `/pools`: disk pools of pre-copied template disks (create, resize and delete are jobs:
 * `pool.create`, `pool.resize`, `pool.delete`; list, show); the engine refills them in the background.
 */
export const poolRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const fills = () => services.refill;
  // The job answers the pool as recorded; the fills in progress are the refill loop's, read now.
  const poolAnswer = async (result: unknown) => {
    services.refill?.nudge();
    return poolToWire(await getPoolView(services.store, (result as PoolView).id, fills()));
  };

  app.post<{ Body: CreatePoolBody }>(
    "/pools",
    {
      schema: {
        tags: ["pools"],
        summary: "Create a disk pool (a `pool.create` job; filled in the background); 201 with it once recorded, or 202 with the job on `Prefer: respond-async`",
        body: CreatePoolBody,
        response: { 201: PoolWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      const request = createPoolFromWire(req.body);
      if (!(await hasPriorJob(services, req))) await checkPoolRequest(services.store, request);
      return submitAndAnswer(services, req, reply, JOB_KINDS.createPool, request, async (view) => reply.status(201).send(await poolAnswer(view)));
    },
  );
  app.get<{ Querystring: PoolListQuery }>(
    "/pools",
    { schema: { tags: ["pools"], summary: "List disk pools with ready and filling counts", querystring: PoolListQuery, response: { 200: Type.Array(PoolWire) } } },
    async (req) => (await listPoolViews(services.store, { templateId: req.query.template_id, datastoreId: req.query.datastore_id }, fills())).map(poolToWire),
  );
  app.get<{ Params: IdParams }>(
    "/pools/:id",
    { schema: { tags: ["pools"], summary: "Show a disk pool, its copies and the fills in progress", params: IdParams, response: { 200: PoolWire } } },
    async (req) => poolToWire(await getPoolView(services.store, req.params.id, fills())),
  );
  app.put<{ Params: IdParams; Body: UpdatePoolBody }>(
    "/pools/:id",
    {
      schema: {
        tags: ["pools"],
        summary: "Set a pool's size (a `pool.resize` job; a change also retries a pool that was backing off); 200 with the pool once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        body: UpdatePoolBody,
        response: { 200: PoolWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      const request: ResizePoolRequest = { id: req.params.id, size: req.body.size };
      if (!(await hasPriorJob(services, req))) await checkPoolResize(services.store, request.id, request.size);
      return submitAndAnswer(services, req, reply, JOB_KINDS.resizePool, request, poolAnswer);
    },
  );
  app.delete<{ Params: IdParams }>(
    "/pools/:id",
    {
      schema: {
        tags: ["pools"],
        summary: "Delete a pool and its ready copies (a `pool.delete` job); 204 once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        response: { 204: Type.Null(), 202: JobWire },
      },
    },
    async (req, reply) => {
      if (!(await hasPriorJob(services, req))) await checkPoolDelete(services.store, req.params.id);
      return submitAndAnswer(services, req, reply, JOB_KINDS.deletePool, { id: req.params.id }, () => {
        services.refill?.nudge();
        return reply.status(204).send();
      });
    },
  );
};
