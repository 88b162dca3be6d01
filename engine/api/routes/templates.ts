import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS } from "../../model";
import { checkTemplateDelete, getTemplateView, listTemplateViews, refreshTemplateViews, validateTemplateImport } from "../../ops";
import { IdParams, ImportTemplateBody, importTemplateFromWire, jobToWire, JobWire, templateToWire, TemplateWire } from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";
import { submitAndAnswer } from "./job-answer";

/** `/templates`: import (a job), list, show, delete. */
export const templateRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.post<{ Body: ImportTemplateBody }>(
    "/templates",
    {
      schema: {
        tags: ["templates"],
        summary: "Import a template from a disk image (answers 202 with the job)",
        body: ImportTemplateBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = importTemplateFromWire(req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      // A retried request with a known key answers with its job without re-checking the source.
      if (!prior) await validateTemplateImport(services.store, request);
      const { job, created } = await services.runner.submit(JOB_KINDS.importTemplate, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.get<{ Querystring: { datastore_id?: string } }>(
    "/templates",
    {
      schema: {
        tags: ["templates"],
        summary: "List templates",
        querystring: Type.Object({ datastore_id: Type.Optional(Type.String()) }, { additionalProperties: false }),
        response: { 200: Type.Array(TemplateWire) },
      },
    },
    async (req) => (await refreshTemplateViews(services.store, await listTemplateViews(services.store, { datastoreId: req.query.datastore_id }))).map(templateToWire),
  );
  app.get<{ Params: IdParams }>(
    "/templates/:id",
    { schema: { tags: ["templates"], summary: "Show a template", params: IdParams, response: { 200: TemplateWire } } },
    async (req) => templateToWire((await refreshTemplateViews(services.store, [await getTemplateView(services.store, req.params.id)]))[0]),
  );
  app.delete<{ Params: IdParams }>(
    "/templates/:id",
    {
      schema: {
        tags: ["templates"],
        summary: "Delete a template and its files (a `template.delete` job); 204 once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        response: { 204: Type.Null(), 202: JobWire },
      },
    },
    async (req, reply) => {
      await checkTemplateDelete(services.store, req.params.id);
      return submitAndAnswer(services, req, reply, JOB_KINDS.deleteTemplate, { id: req.params.id }, () => reply.status(204).send());
    },
  );
};
