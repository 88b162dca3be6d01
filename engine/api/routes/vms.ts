import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS, LOCAL_HOST_ID, type MissingAckPolicy } from "../../model";
import { checkForkRequest, checkVmDelete, checkVmRequest, checkVmStart, checkVmStop, checkVmSettings, DEFAULT_HEARTBEAT_INTERVAL_MS, getVmView, listVmViews, MISSED_HEARTBEATS_FOR_DOWN, type ViewPoint, type StartVmRequest, type StopVmRequest, type UpdateVmSettingsRequest, type VmView } from "../../ops";
import {
  CreateVmBody,
  createVmFromWire,
  ForkVmBody,
  forkVmFromWire,
  IdParams,
  jobToWire,
  JobWire,
  StartVmBody,
  StopVmBody,
  UpdateVmBody,
  VmListQuery,
  vmToWire,
  VmWire,
} from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";
import { hasPriorJob, submitAndAnswer } from "./job-answer";

/** `/vms`: VMs as inventory records with their disks (create from a template — a job —, list, show, delete). */
export const vmRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  // Reads describe other hosts' VMs from the inventory: their processes are on other machines.
  const here: ViewPoint = { hostId: services.hostId ?? LOCAL_HOST_ID, downAfterMs: services.hostDownAfterMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_FOR_DOWN };
  app.post<{ Body: CreateVmBody }>(
    "/vms",
    {
      schema: {
        tags: ["vms"],
        summary: "Create a VM from a template with a clone mode (answers 202 with the job)",
        body: CreateVmBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = createVmFromWire(req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      // A retried request answers with its job; the name it took is no conflict then.
      const checked = await checkVmRequest(services.store, request, { admitName: !prior });
      const { job, created } = await services.runner.submit(JOB_KINDS.createVm, checked, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.get<{ Querystring: VmListQuery }>(
    "/vms",
    { schema: { tags: ["vms"], summary: "List VMs", querystring: VmListQuery, response: { 200: Type.Array(VmWire) } } },
    async (req) =>
      (await listVmViews(services.store, { fleetId: req.query.fleet_id, datastoreId: req.query.datastore_id, templateId: req.query.template_id }, here)).map(vmToWire),
  );
  app.get<{ Params: IdParams }>(
    "/vms/:id",
    { schema: { tags: ["vms"], summary: "Show a VM, its disk chain and whether its disk is still there", params: IdParams, response: { 200: VmWire } } },
    async (req) => vmToWire(await getVmView(services.store, req.params.id, here)),
  );
  app.patch<{ Params: IdParams; Body: UpdateVmBody }>(
    "/vms/:id",
    {
      schema: {
        tags: ["vms"],
        summary: "Change a VM's settings in place (stop timeout, migration policy, HA restart; a `vm.update` job); answers with the VM, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        body: UpdateVmBody,
        response: { 200: VmWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      const request: UpdateVmSettingsRequest = {
        id: req.params.id,
        ...(req.body.stop_timeout_seconds !== undefined ? { stopTimeoutSeconds: req.body.stop_timeout_seconds } : {}),
        ...(req.body.migration_notify_timeout_seconds !== undefined ? { migrationNotifyTimeoutSeconds: req.body.migration_notify_timeout_seconds } : {}),
        ...(req.body.migration_on_missing_ack !== undefined ? { migrationOnMissingAck: req.body.migration_on_missing_ack as MissingAckPolicy } : {}),
        ...(req.body.ha_restart !== undefined ? { haRestart: req.body.ha_restart } : {}),
      };
      if (!(await hasPriorJob(services, req))) await checkVmSettings(services.store, request);
      return submitAndAnswer(services, req, reply, JOB_KINDS.updateVm, request, (vm) => vmToWire(vm as VmView));
    },
  );
  app.post<{ Params: IdParams; Body: StartVmBody }>(
    "/vms/:id/start",
    {
      schema: {
        tags: ["vms"],
        summary: "Power a VM on (idempotent; a `vm.start` job); answers with the VM once it runs, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        body: Type.Optional(StartVmBody),
        response: { 200: VmWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      const request: StartVmRequest = { id: req.params.id, ...(req.body?.accel !== undefined ? { accel: req.body.accel as StartVmRequest["accel"] } : {}) };
      await checkVmStart(services.store, request);
      return submitAndAnswer(services, req, reply, JOB_KINDS.startVm, request, (vm) => vmToWire(vm as VmView));
    },
  );
  app.post<{ Params: IdParams; Body: StopVmBody }>(
    "/vms/:id/stop",
    {
      schema: {
        tags: ["vms"],
        summary: "Power a VM off (a `vm.stop` job): ACPI power-down within the timeout, then quit, then kill; answers with the VM, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        body: Type.Optional(StopVmBody),
        response: { 200: VmWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      const t = req.body?.timeout_seconds;
      const request: StopVmRequest = { id: req.params.id, ...(t !== undefined ? { timeoutMs: t * 1000 } : {}) };
      await checkVmStop(services.store, request);
      return submitAndAnswer(services, req, reply, JOB_KINDS.stopVm, request, (vm) => vmToWire(vm as VmView));
    },
  );
  app.post<{ Params: IdParams; Body: ForkVmBody }>(
    "/vms/:id/fork",
    { schema: { tags: ["vms"], summary: "Fork a VM into a child (answers 202 with the job)", params: IdParams, body: ForkVmBody, response: { 202: JobWire, 200: JobWire } } },
    async (req, reply) => {
      const request = forkVmFromWire(req.params.id, req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      await checkForkRequest(services.store, request, { admitName: !prior });
      const { job, created } = await services.runner.submit(JOB_KINDS.forkVm, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.delete<{ Params: IdParams }>(
    "/vms/:id",
    {
      schema: {
        tags: ["vms"],
        summary: "Delete a standalone VM and its disk (a `vm.delete` job; fleet members go by resizing the fleet); 204 once done, or 202 with the job on `Prefer: respond-async`",
        params: IdParams,
        response: { 204: Type.Null(), 202: JobWire },
      },
    },
    async (req, reply) => {
      await checkVmDelete(services.store, req.params.id);
      return submitAndAnswer(services, req, reply, JOB_KINDS.deleteVm, { id: req.params.id }, () => reply.status(204).send());
    },
  );
};
