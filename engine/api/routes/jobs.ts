import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { IdParams, JobListQuery, jobToWire, JobWaitQuery, JobWire } from "../schemas";
import type { EngineServices } from "../services";
import type { JobState } from "../../model";

const MAX_WAIT_SECONDS = 300;

/** `/jobs`: list, show, wait for, cancel. */
export const jobRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.get<{ Querystring: JobListQuery }>(
    "/jobs",
    { schema: { tags: ["jobs"], summary: "List jobs, newest first", querystring: JobListQuery, response: { 200: Type.Array(JobWire) } } },
    async (req) => {
      const states = req.query.state ? [req.query.state as JobState] : undefined;
      const limit = req.query.limit ? Math.max(1, Number(req.query.limit)) : 100;
      return (await services.store.jobs.list({ states, limit })).map(jobToWire);
    },
  );
  app.get<{ Params: IdParams }>(
    "/jobs/:id",
    { schema: { tags: ["jobs"], summary: "Show a job and its progress", params: IdParams, response: { 200: JobWire } } },
    async (req) => jobToWire(await services.runner.get(req.params.id)),
  );
  app.get<{ Params: IdParams; Querystring: JobWaitQuery }>(
    "/jobs/:id/wait",
    {
      schema: {
        tags: ["jobs"],
        summary: "Wait until a job ends or the timeout passes; answers the job either way",
        params: IdParams,
        querystring: JobWaitQuery,
        response: { 200: JobWire },
      },
    },
    async (req) => {
      const seconds = Math.min(MAX_WAIT_SECONDS, Number(req.query.timeout_seconds ?? 30));
      return jobToWire(await services.runner.wait(req.params.id, seconds * 1000));
    },
  );
  app.post<{ Params: IdParams }>(
    "/jobs/:id/cancel",
    { schema: { tags: ["jobs"], summary: "Cancel a job", params: IdParams, response: { 200: JobWire } } },
    async (req) => jobToWire(await services.runner.cancel(req.params.id)),
  );
};
