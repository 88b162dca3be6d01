import type { FastifyReply, FastifyRequest } from "fastify";
import { conflict, internal, notFound } from "../../errors";
import { judgeHostStatus } from "../../ops";
import { LOCAL_HOST_ID } from "../../model";
import type { EngineServices } from "../services";

/** Set on a request one agent forwards to another, so it is never forwarded twice. */
export const FORWARDED_HEADER = "x-clonefleet-forwarded-by";

/**
 * Requests for a VM are carried out by the agent of its host (S6): when VM `vmId` lives on
 * another host, sends this request on to that host's API (same method, body and token) and
 * answers with its answer; returns false when the VM is this host's (or unknown: the route's
 * own lookup answers 404). 409 when its host is down, or the request was already forwarded.
 */
export async function forwardToVmHost(services: EngineServices, vmId: string, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const vm = await services.store.vms.get(vmId);
  const self = services.hostId ?? LOCAL_HOST_ID;
  const hostId = vm?.hostId ?? LOCAL_HOST_ID;
  if (!vm || hostId === self) return false;
  if (req.headers[FORWARDED_HEADER]) throw conflict(`VM ${vm.name} is on host ${hostId}, not on ${self}, which this request was forwarded to`, "id");
  const host = await services.store.hosts.get(hostId);
  if (!host) throw notFound("host", hostId, "host_id");
  const judged = judgeHostStatus(host, Date.now(), services.hostDownAfterMs ?? 6000);
  if (judged.status === "down") throw conflict(`VM ${vm.name}'s host ${hostId} is down (${judged.reason ?? "no heartbeat"}); its agent cannot carry out the request`, "id");
  const headers: Record<string, string> = { [FORWARDED_HEADER]: self };
  if (req.headers.authorization) headers.authorization = req.headers.authorization;
  const hasBody = req.body !== undefined && req.body !== null;
  if (hasBody) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(`${host.apiUrl}${req.url}`, { method: req.method, headers, body: hasBody ? JSON.stringify(req.body) : undefined, signal: AbortSignal.timeout(10 * 60_000) });
  } catch (err) {
    throw internal(`forwarding to host ${hostId} at ${host.apiUrl}`, err);
  }
  const text = await res.text();
  void reply.status(res.status);
  if (!text) {
    await reply.send();
    return true;
  }
  await reply.header("content-type", "application/json").send(text);
  return true;
}
