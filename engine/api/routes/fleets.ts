import type { FastifyPluginAsync, FastifyReply } from "fastify";
import { Type } from "@sinclair/typebox";
import { conflict } from "../../errors";
import { JOB_KINDS } from "../../model";
import {
  declareFleet,
  checkFleetDelete,
  getFleetView,
  listFleetViews,
  redeclareFleet,
  type ApplyFleetRequest,
  type FleetSpec,
} from "../../ops";
import type { Inventory } from "../../store";
import { FleetBody, FleetListQuery, fleetSpecFromWire, fleetToWire, FleetWire, IdParams, jobToWire, JobWire } from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";
import { submitAndAnswer } from "./job-answer";

/**
 * `/fleets`: declared sets of clones. POST declares one and PUT redeclares it (size, datastores,
 * clone mode); both record the declaration and answer 202 with a `fleet.apply` job that brings
 * the members to it. GET shows members and drift; DELETE removes the fleet and its members.
 */
export const fleetRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  /** Submits the apply in the same transaction as the declaration, so neither exists without the other. */
  const declareAndApply = async (reply: FastifyReply, idempotencyKey: string | undefined, spec: FleetSpec, declare: (s: Inventory) => Promise<string>) => {
    if (idempotencyKey) {
      const prior = await services.store.jobs.findByIdempotencyKey(idempotencyKey);
      if (prior) {
        // A retry answers with its job without declaring again (a later PUT may have changed the fleet since).
        if (prior.kind === JOB_KINDS.applyFleet && JSON.stringify((prior.request as ApplyFleetRequest).spec) === JSON.stringify(spec)) {
          return reply.status(200).send(jobToWire(prior));
        }
        throw conflict(`idempotency key ${JSON.stringify(idempotencyKey)} was already used for a different request (job ${prior.id})`, "idempotency_key");
      }
    }
    const { job } = await services.store.tx(async (s) => {
      const fleetId = await declare(s);
      const request: ApplyFleetRequest = { fleetId, spec };
      return services.runner.submit(JOB_KINDS.applyFleet, request, { idempotencyKey, targetId: fleetId, inventory: s });
    });
    return reply.status(202).send(jobToWire(job));
  };

  app.post<{ Body: FleetBody }>(
    "/fleets",
    {
      schema: {
        tags: ["fleets"],
        summary: "Declare a fleet of k clones of a template over datastores (answers 202 with the apply job; its target_id is the fleet)",
        body: FleetBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const spec = fleetSpecFromWire(req.body);
      return declareAndApply(reply, idempotencyKeyOf(req), spec, async (s) => (await declareFleet(s, spec)).id);
    },
  );
  app.put<{ Params: IdParams; Body: FleetBody }>(
    "/fleets/:id",
    {
      schema: {
        tags: ["fleets"],
        summary: "Redeclare a fleet (size, datastores, clone mode) and apply it; the same declaration again repairs drift (202 with the job)",
        params: IdParams,
        body: FleetBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const spec = fleetSpecFromWire(req.body);
      return declareAndApply(reply, idempotencyKeyOf(req), spec, async (s) => (await redeclareFleet(s, req.params.id, spec)).id);
    },
  );
  app.get<{ Querystring: FleetListQuery }>(
    "/fleets",
    { schema: { tags: ["fleets"], summary: "List fleets with their members", querystring: FleetListQuery, response: { 200: Type.Array(FleetWire) } } },
    async (req) =>
      (await listFleetViews(services.store, { templateId: req.query.template_id }))
        .filter((f) => req.query.name_prefix === undefined || f.namePrefix === req.query.name_prefix)
        .map(fleetToWire),
  );
  app.get<{ Params: IdParams }>(
    "/fleets/:id",
    { schema: { tags: ["fleets"], summary: "Show a fleet, its members and their drift", params: IdParams, response: { 200: FleetWire } } },
    async (req) => fleetToWire(await getFleetView(services.store, req.params.id)),
  );
  app.delete<{ Params: IdParams }>(
    "/fleets/:id",
    {
      schema: {
        tags: ["fleets"],
        summary: "Delete a fleet and every member with its disk (a `fleet.delete` job; 409 while it is being applied); 204 once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        response: { 204: Type.Null(), 202: JobWire },
      },
    },
    async (req, reply) => {
      await checkFleetDelete(services.store, req.params.id);
      return submitAndAnswer(services, req, reply, JOB_KINDS.deleteFleet, { id: req.params.id }, () => reply.status(204).send());
    },
  );
};
