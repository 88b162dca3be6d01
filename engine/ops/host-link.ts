/**
 * Requests from one host's agent to another's (S6), over the other agent's `/internal/` routes
 * with the host credential both read from the shared state folder (never the users' API token). Errors come back as the EngineError the other
 * agent answered with, or as CF_INTERNAL naming the host when it cannot be reached.
 */
import { EngineError, internal, notFound, type ErrorCode } from "../errors";
import type { OpContext } from "./context";

/** The header the host credential travels in; the receiving agent's API checks it (api/auth.ts). */
export const HOST_TOKEN_HEADER = "x-clonefleet-host-token";

/** Default deadline of one request to another agent. */
export const HOST_REQUEST_TIMEOUT_MS = 60_000;

/**
 * Sends `method path` with a JSON body to host `hostId`'s agent and returns its JSON answer;
 * throws the agent's EngineError (code and field kept), 404 when the host is unknown, or
 * CF_INTERNAL when it does not answer within `timeoutMs`.
 */
export async function callHost<T>(ctx: OpContext, hostId: string, method: "GET" | "POST", urlPath: string, body?: unknown, timeoutMs = HOST_REQUEST_TIMEOUT_MS): Promise<T> {
  const host = ctx.store.getHost(hostId);
  if (!host) throw notFound("host", hostId, "host_id");
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (ctx.settings.hostToken) headers[HOST_TOKEN_HEADER] = ctx.settings.hostToken;
  let res: Response;
  try {
    res = await fetch(`${host.apiUrl}${urlPath}`, {
      method,
      headers,
      body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), ctx.signal]),
    });
  } catch (err) {
    throw internal(`reaching host ${hostId} at ${host.apiUrl}`, err);
  }
  const text = await res.text();
  const json = text ? (JSON.parse(text) as unknown) : null;
  if (res.ok) return json as T;
  const e = (json as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
  throw new EngineError((e?.code as ErrorCode) ?? "CF_INTERNAL", res.status, `host ${hostId}: ${e?.message ?? `HTTP ${res.status}`}`, e?.field);
}
