import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { JOB_KINDS } from "../../model";
import { admitSnapshotDelete, checkBackupRequest, checkBackupTarget, checkSnapshotCreate, getSnapshotView, listSnapshotViews } from "../../ops";
import {
  BackupVmBody,
  backupVmFromWire,
  CreateSnapshotBody,
  createSnapshotFromWire,
  DeleteSnapshotQuery,
  deleteSnapshotFromWire,
  IdParams,
  jobToWire,
  JobWire,
  snapshotToWire,
  SnapshotWire,
} from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";

/** Snapshots of VMs (S4): take (job), list, show, delete = consolidate (job); and `POST /vms/{id}/backup` (job). */
export const snapshotRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.post<{ Params: IdParams; Body: CreateSnapshotBody }>(
    "/vms/:id/snapshots",
    {
      schema: {
        tags: ["snapshots"],
        summary: "Snapshot a VM, running or stopped: its disk is frozen and it continues on a new overlay (answers 202 with the job)",
        params: IdParams,
        body: CreateSnapshotBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = createSnapshotFromWire(req.params.id, req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      if (!prior) await checkSnapshotCreate(services.store, request);
      const { job, created } = await services.runner.submit(JOB_KINDS.createSnapshot, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.get<{ Params: IdParams }>(
    "/vms/:id/snapshots",
    { schema: { tags: ["snapshots"], summary: "List a VM's snapshots, oldest first", params: IdParams, response: { 200: Type.Array(SnapshotWire) } } },
    async (req) => (await listSnapshotViews(services.store, req.params.id)).map(snapshotToWire),
  );
  app.get<{ Params: IdParams }>(
    "/snapshots/:id",
    { schema: { tags: ["snapshots"], summary: "Show a snapshot and its frozen disk", params: IdParams, response: { 200: SnapshotWire } } },
    async (req) => snapshotToWire(await getSnapshotView(services.store, req.params.id)),
  );
  app.delete<{ Params: IdParams; Querystring: DeleteSnapshotQuery }>(
    "/snapshots/:id",
    {
      schema: {
        tags: ["snapshots"],
        summary: "Delete a snapshot by consolidating its layer (live block commit with a pivot, or qemu-img commit when stopped); answers 202 with the job",
        params: IdParams,
        querystring: DeleteSnapshotQuery,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = deleteSnapshotFromWire(req.params.id, req.query);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      if (!prior) await admitSnapshotDelete(services.store, request);
      const { job, created } = await services.runner.submit(JOB_KINDS.deleteSnapshot, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
  app.post<{ Params: IdParams; Body: BackupVmBody }>(
    "/vms/:id/backup",
    {
      schema: {
        tags: ["snapshots"],
        summary: "Back a VM up into a file: snapshot, flattened copy of the frozen disk, consolidation (answers 202 with the job)",
        params: IdParams,
        body: BackupVmBody,
        response: { 202: JobWire, 200: JobWire },
      },
    },
    async (req, reply) => {
      const request = backupVmFromWire(req.params.id, req.body);
      const idempotencyKey = idempotencyKeyOf(req);
      const prior = idempotencyKey ? await services.store.jobs.findByIdempotencyKey(idempotencyKey) : null;
      if (!prior) {
        await checkBackupRequest(services.store, request);
        await checkBackupTarget(services.store, services.settings ?? {}, request.targetPath);
      }
      const { job, created } = await services.runner.submit(JOB_KINDS.backupVm, request, { idempotencyKey });
      return reply.status(created ? 202 : 200).send(jobToWire(job));
    },
  );
};
