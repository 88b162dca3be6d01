import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { createPool, deletePool, directContext, getPoolView, listPoolViews, resizePool } from "../../ops";
import { CreatePoolBody, createPoolFromWire, IdParams, PoolListQuery, poolToWire, PoolWire, UpdatePoolBody } from "../schemas";
import type { EngineServices } from "../services";

/** `/pools`: disk pools of pre-copied template disks (create, list, show, resize, delete); the engine refills them in the background. */
export const poolRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const ctx = () => directContext(services.store, services.log);
  const fills = () => services.refill;

  app.post<{ Body: CreatePoolBody }>(
    "/pools",
    { schema: { tags: ["pools"], summary: "Create a disk pool (filled in the background)", body: CreatePoolBody, response: { 201: PoolWire } } },
    async (req, reply) => {
      const view = createPool(ctx(), createPoolFromWire(req.body), fills());
      services.refill?.nudge();
      return reply.status(201).send(poolToWire(view));
    },
  );
  app.get<{ Querystring: PoolListQuery }>(
    "/pools",
    { schema: { tags: ["pools"], summary: "List disk pools with ready and filling counts", querystring: PoolListQuery, response: { 200: Type.Array(PoolWire) } } },
    async (req) => listPoolViews(services.store, { templateId: req.query.template_id, datastoreId: req.query.datastore_id }, fills()).map(poolToWire),
  );
  app.get<{ Params: IdParams }>(
    "/pools/:id",
    { schema: { tags: ["pools"], summary: "Show a disk pool, its copies and the fills in progress", params: IdParams, response: { 200: PoolWire } } },
    async (req) => poolToWire(getPoolView(services.store, req.params.id, fills())),
  );
  app.put<{ Params: IdParams; Body: UpdatePoolBody }>(
    "/pools/:id",
    { schema: { tags: ["pools"], summary: "Set a pool's size (a change also retries a pool that was backing off)", params: IdParams, body: UpdatePoolBody, response: { 200: PoolWire } } },
    async (req) => {
      const view = await resizePool(ctx(), req.params.id, req.body.size, fills());
      services.refill?.nudge();
      return poolToWire(view);
    },
  );
  app.delete<{ Params: IdParams }>(
    "/pools/:id",
    { schema: { tags: ["pools"], summary: "Delete a pool and its ready copies", params: IdParams } },
    async (req, reply) => {
      await deletePool(ctx(), req.params.id);
      services.refill?.nudge();
      return reply.status(204).send();
    },
  );
};
