import type { FastifyReply, FastifyRequest } from "fastify";
import { errorOfRecord } from "../../errors";
import { jobToWire } from "../schemas";
import type { EngineServices } from "../services";
import { idempotencyKeyOf } from "./idempotency";
import type { Job } from "../../model";

/** Longest a route waits for the job it submitted before it answers 202 with the job (a stop may take an hour). */
const JOB_ANSWER_WAIT_MS = 2 * 3600_000;

/** True when the caller asked for the job instead of the finished answer (`Prefer: respond-async`, RFC 7240). */
export function prefersAsync(req: FastifyRequest): boolean {
  const raw = req.headers.prefer;
  const values = (Array.isArray(raw) ? raw : [raw ?? ""]).flatMap((v) => v.split(","));
  return values.some((v) => v.trim().toLowerCase() === "respond-async");
}

/** True when the caller's idempotency key already names a job: its route skips the checks a retry after success would fail (the name it took, the record it removed). */
export async function hasPriorJob(services: EngineServices, req: FastifyRequest): Promise<boolean> {
  const key = idempotencyKeyOf(req);
  return key !== undefined && (await services.store.jobs.findByIdempotencyKey(key)) !== null;
}

/**
 * Submits a change as a job of `kind` (with the caller's idempotency key) and answers the way
 * the route always has: once the job ends, `send(result)` for a success and the job's error with
 * its status otherwise. With `Prefer: respond-async`, or a job that outlasts the wait, answers
 * 202 with the job (a retried idempotency key's job too: 200 is the finished answer's). `X-Clonefleet-Job` names the job either way.
 * With `cancelOnHangUp`, a caller that closes its connection before the answer cancels the job
 * (work nobody will take up, such as a target QEMU for a source agent that died).
 */
export async function submitAndAnswer(
  services: EngineServices,
  req: FastifyRequest,
  reply: FastifyReply,
  kind: string,
  request: unknown,
  send: (result: unknown) => unknown,
  opts: { cancelOnHangUp?: boolean } = {},
): Promise<unknown> {
  const { job } = await services.runner.submit(kind, request, { idempotencyKey: idempotencyKeyOf(req) });
  void reply.header("x-clonefleet-job", job.id);
  if (opts.cancelOnHangUp) {
    reply.raw.once("close", () => {
      if (reply.raw.writableFinished) return;
      services.runner.cancel(job.id).catch((err: unknown) => {
        req.log.warn({ err, jobId: job.id }, "could not cancel the job of a request whose caller hung up");
      });
    });
  }
  const asJob = (j: Job) => reply.status(202).header("location", `/jobs/${j.id}`).send(jobToWire(j));
  if (prefersAsync(req)) return asJob(job);
  const done = await services.runner.wait(job.id, JOB_ANSWER_WAIT_MS);
  if (done.state === "succeeded") return await send(done.result);
  if (done.state === "failed" || done.state === "cancelled") throw errorOfRecord(done.error ?? { code: "CF_INTERNAL", message: `job ${done.id} ended ${done.state}` });
  return asJob(done);
}
