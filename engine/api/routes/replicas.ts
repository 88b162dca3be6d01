import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS } from "../../model";
import { checkReplicaDelete, getReplicaView, listReplicaViews, validateReplicaCreate } from "../../ops";
import {
  CreateReplicaBody,
  createReplicaFromWire,
  IdParams,
  jobToWire,
  JobWire,
  RepairReplicaBody,
  repairReplicaFromWire,
  ReplicaListQuery,
  replicaToWire,
  ReplicaWire,
} from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";
import { hasPriorJob, submitAndAnswer } from "./job-answer";

/** `/replicas`: replicate a chain (a job), list, show (with drift measured now), repair (a job), delete (a job). */
export const replicaRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.post<{ Body: CreateReplicaBody }>(
    "/replicas",
    {
      schema: {
        tags: ["replicas"],
        summary: "Replicate a disk chain onto another datastore by content ID (answers 202 with the job)",
        body: CreateReplicaBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = createReplicaFromWire(req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      if (!prior) await validateReplicaCreate(services.store, request);
      const { job, created } = await services.runner.submit(JOB_KINDS.createReplica, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.get<{ Querystring: ReplicaListQuery }>(
    "/replicas",
    { schema: { tags: ["replicas"], summary: "List replicas, each measured now", querystring: ReplicaListQuery, response: { 200: Type.Array(ReplicaWire) } } },
    async (req) => (await listReplicaViews(services.store, { targetDatastoreId: req.query.target_datastore_id })).map(replicaToWire),
  );
  app.get<{ Params: IdParams }>(
    "/replicas/:id",
    {
      schema: {
        tags: ["replicas"],
        summary: "Show a replica; re-reads its target layers and reports drift",
        params: IdParams,
        response: { 200: ReplicaWire },
      },
    },
    async (req) => replicaToWire(await getReplicaView(services.store, req.params.id)),
  );
  app.post<{ Params: IdParams; Body: RepairReplicaBody | undefined }>(
    "/replicas/:id/repair",
    {
      schema: {
        tags: ["replicas"],
        summary: "Copy again only what a replica lost on its target (answers 202 with the job)",
        params: IdParams,
        body: RepairReplicaBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = repairReplicaFromWire(req.params.id, req.body);
      // Unknown ids answer 404 here rather than as a failed job.
      await getReplicaView(services.store, request.replicaId);
      const { job, created } = await services.runner.submit(JOB_KINDS.repairReplica, request, { idempotencyKey: idempotencyKeyOf(req) });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.delete<{ Params: IdParams }>(
    "/replicas/:id",
    {
      schema: {
        tags: ["replicas"],
        summary: "Delete a replica and the layers it copied, layers it reused stay (a `replica.delete` job); 204 once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        response: { 204: Type.Null(), 202: JobWire },
      },
    },
    async (req, reply) => {
      if (!(await hasPriorJob(services, req))) await checkReplicaDelete(services.store, req.params.id);
      return submitAndAnswer(services, req, reply, JOB_KINDS.deleteReplica, { id: req.params.id }, () => reply.status(204).send());
    },
  );
};
