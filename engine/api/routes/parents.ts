import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS } from "../../model";
import { checkInstantClone, checkParentCreate, checkParentDelete, checkParentUpdate, getParentView, listParentViews, type ParentView } from "../../ops";
import {
  CreateParentBody,
  createParentFromWire,
  DeleteParentQuery,
  deleteParentFromWire,
  IdParams,
  InstantCloneBody,
  instantCloneFromWire,
  jobToWire,
  JobWire,
  parentToWire,
  ParentWire,
  UpdateParentBody,
  updateParentFromWire,
} from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";
import { submitAndAnswer } from "./job-answer";

/** `/parents`: instant-clone parents (S3): capture from a running VM, change, delete and instant clones (each a job), list, show. */
export const parentRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const warmOf = (id: string) => ({ ready: services.warm?.readyCount(id) ?? 0, error: services.warm?.lastError(id) ?? null });
  app.post<{ Body: CreateParentBody }>(
    "/parents",
    {
      schema: {
        tags: ["parents"],
        summary: "Capture a running VM as an instant-clone parent: RAM file, device state and frozen disk; the VM ends stopped (answers 202 with the job)",
        body: CreateParentBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = createParentFromWire(req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      if (!prior) await checkParentCreate(services.store, request);
      const { job, created } = await services.runner.submit(JOB_KINDS.createParent, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.get(
    "/parents",
    { schema: { tags: ["parents"], summary: "List instant-clone parents", response: { 200: Type.Array(ParentWire) } } },
    async () => (await listParentViews(services.store)).map((p) => parentToWire(p, warmOf(p.id))),
  );
  app.get<{ Params: IdParams }>(
    "/parents/:id",
    { schema: { tags: ["parents"], summary: "Show an instant-clone parent, its files, its children and whether its files are still there", params: IdParams, response: { 200: ParentWire } } },
    async (req) => parentToWire(await getParentView(services.store, req.params.id), warmOf(req.params.id)),
  );
  app.patch<{ Params: IdParams; Body: UpdateParentBody }>(
    "/parents/:id",
    {
      schema: {
        tags: ["parents"],
        summary: "Change a parent's settings (warm_count: children each host keeps pre-started; a `parent.update` job); answers the parent once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        body: UpdateParentBody,
        response: { 200: ParentWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      const request = updateParentFromWire(req.params.id, req.body);
      await checkParentUpdate(services.store, request);
      return submitAndAnswer(services, req, reply, JOB_KINDS.updateParent, request, (view) => parentToWire(view as ParentView, warmOf(request.id)));
    },
  );
  app.delete<{ Params: IdParams; Querystring: DeleteParentQuery }>(
    "/parents/:id",
    {
      schema: {
        tags: ["parents"],
        summary: "Delete an instant-clone parent (a `parent.delete` job): 204 once done (202 with the job on `Prefer: respond-async`), or 409 naming its children while it has any; with wait=true, 202 with a job that deletes it once they are gone",
        params: IdParams,
        querystring: DeleteParentQuery,
        response: { 202: JobWire, 200: JobWire, 204: Type.Null() },
      },
    },
    async (req, reply) => {
      const request = deleteParentFromWire(req.params.id, req.query);
      await checkParentDelete(services.store, request);
      if (request.wait) {
        const { job, created } = await services.runner.submit(JOB_KINDS.deleteParent, request, { idempotencyKey: idempotencyKeyOf(req) });
        return reply.status(created ? 202 : 200).send(jobToWire(job));
      }
      return submitAndAnswer(services, req, reply, JOB_KINDS.deleteParent, request, () => reply.status(204).send());
    },
  );
  app.post<{ Params: IdParams; Body: InstantCloneBody }>(
    "/parents/:id/clones",
    {
      schema: {
        tags: ["parents"],
        summary: "Start count instant clones of a parent at once; the job's result lists each child with its time to running (answers 202 with the job)",
        params: IdParams,
        body: InstantCloneBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = instantCloneFromWire(req.params.id, req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      await checkInstantClone(services.store, request, { admitNames: !prior });
      const { job, created } = await services.runner.submit(JOB_KINDS.instantClone, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
};
