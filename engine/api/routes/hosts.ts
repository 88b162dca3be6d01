import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS } from "../../model";
import {
  ABORT_MIGRATION_KIND,
  ACTIVATE_MIGRATION_KIND,
  checkAbort,
  checkCompletion,
  checkIncoming,
  checkMigrateRequest,
  checkTargetDir,
  COMPLETE_MIGRATION_KIND,
  directContext,
  getHostView,
  INCOMING_MIGRATION_KIND,
  listHostViews,
} from "../../ops";
import type { CompletionRequest, IncomingRequest, TargetDirRequest } from "../../peer";
import {
  CompletionBody,
  hostToWire,
  HostWire,
  IdParams,
  IncomingBody,
  jobToWire,
  JobWire,
  MigrateVmBody,
  migrateVmFromWire,
  TargetDirBody,
} from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";
import { submitAndAnswer } from "./job-answer";
import type { CompletionOutcome } from "../../hypervisor";

/** Default time without a heartbeat after which a host is down, when the engine did not say. */
const DEFAULT_DOWN_AFTER_MS = 6000;

/**
 * Hosts and live migration (S6): `/hosts`, `POST /vms/{id}/migrate` (a job run by the VM's
 * host), `PATCH /vms/{id}` (the VM's migration policy), and the agent-to-agent routes under
 * `/internal/migrations` a source agent calls on the target's.
 */
export const hostRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const downAfterMs = services.hostDownAfterMs ?? DEFAULT_DOWN_AFTER_MS;
  const ctx = () => directContext(services.store, services.log, undefined, services.settings);

  app.get("/hosts", { schema: { tags: ["hosts"], summary: "List hosts with their health", response: { 200: Type.Array(HostWire) } } }, async () =>
    (await listHostViews(services.store, downAfterMs)).map(hostToWire),
  );
  app.get<{ Params: IdParams }>(
    "/hosts/:id",
    { schema: { tags: ["hosts"], summary: "Show a host and its health", params: IdParams, response: { 200: HostWire } } },
    async (req) => hostToWire(await getHostView(services.store, req.params.id, downAfterMs)),
  );

  app.post<{ Params: IdParams; Body: MigrateVmBody }>(
    "/vms/:id/migrate",
    {
      schema: {
        tags: ["vms"],
        summary: "Live-migrate a running VM to another host, telling its guest first per its policy (answers 202 with the job)",
        params: IdParams,
        body: MigrateVmBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = migrateVmFromWire(req.params.id, req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      if (!prior) await checkMigrateRequest(services.store, request, downAfterMs);
      const { job, created } = await services.runner.submit(JOB_KINDS.migrateVm, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );

  const internal = { tags: ["internal"], hide: true };
  // Each step runs as a job on this (target) host; the route checks, submits and answers once it ends.
  const targetDir = (b: TargetDirBody): TargetDirRequest => ({ vmId: b.vm_id, stateDir: b.state_dir, targetDatastoreId: b.target_datastore_id ?? null });
  app.post<{ Body: IncomingBody }>("/internal/migrations/incoming", { schema: { ...internal, body: IncomingBody } }, async (req, reply) => {
    const request: IncomingRequest = { vmId: req.body.vm_id, migrationId: req.body.migration_id, targetDatastoreId: req.body.target_datastore_id ?? null };
    await checkIncoming(ctx(), request);
    // The source agent hanging up before the answer (it died, or gave up) cancels the start.
    return submitAndAnswer(services, req, reply, INCOMING_MIGRATION_KIND, request, (r) => r, { cancelOnHangUp: true });
  });
  app.post<{ Body: TargetDirBody }>("/internal/migrations/activate", { schema: { ...internal, body: TargetDirBody } }, async (req, reply) => {
    const request = targetDir(req.body);
    await checkTargetDir(ctx(), request);
    return submitAndAnswer(services, req, reply, ACTIVATE_MIGRATION_KIND, request, (r) => r);
  });
  app.post<{ Body: TargetDirBody }>("/internal/migrations/abort", { schema: { ...internal, body: TargetDirBody } }, async (req, reply) => {
    const request = targetDir(req.body);
    await checkAbort(ctx(), request);
    return submitAndAnswer(services, req, reply, ABORT_MIGRATION_KIND, request, () => ({ ok: true }));
  });
  app.post<{ Body: CompletionBody }>("/internal/migrations/complete", { schema: { ...internal, body: CompletionBody } }, async (req, reply) => {
    const request: CompletionRequest = { vmId: req.body.vm_id, ref: req.body.ref, outcome: req.body.outcome as CompletionOutcome, migrationId: req.body.migration_id };
    await checkCompletion(ctx(), request);
    return submitAndAnswer(services, req, reply, COMPLETE_MIGRATION_KIND, request, () => ({ ok: true }));
  });
};
