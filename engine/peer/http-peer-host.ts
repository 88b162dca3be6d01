/**
 * The HTTP transport of PeerHost: the other agent's `/internal/migrations/…` routes, called as
 * this agent's host with its own credential (never the users' API token).
 * The only place that knows those URLs, their snake_case bodies and the API's error body.
 */
import { EngineError, internal, notFound, type ErrorCode } from "../errors";
import type { Inventory } from "../store";
import type { CompletionRequest, IncomingReady, IncomingRequest, PeerHost, TargetDirRequest } from "./peer-host";

/** The header the calling agent's host credential travels in; the receiving agent's API checks it (api/auth.ts). */
export const HOST_TOKEN_HEADER = "x-clonefleet-host-token";

/** The header naming the calling agent's host, whose inventory record holds the credential's hash. */
export const HOST_ID_HEADER = "x-clonefleet-host";

/** Default deadline of one request to another agent. */
export const HOST_REQUEST_TIMEOUT_MS = 60_000;

/** How a PeerHost reaches its agent: who calls (this agent's host and credential), the caller's signal, a per-request deadline. */
export interface PeerHostOptions {
  selfHostId: string;
  hostToken: string | null;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** The agent of host `hostId` over HTTP, at the API URL its host record names (read at each call). */
export function httpPeerHost(store: Inventory, hostId: string, opts: PeerHostOptions): PeerHost {
  const post = <T>(urlPath: string, body: unknown) => postToHost<T>(store, hostId, urlPath, body, opts);
  const targetDir = (r: TargetDirRequest) => ({ vm_id: r.vmId, state_dir: r.stateDir, ...(r.targetDatastoreId ? { target_datastore_id: r.targetDatastoreId } : {}) });
  return {
    hostId,
    prepareIncoming: (r: IncomingRequest) =>
      post<IncomingReady>("/internal/migrations/incoming", { vm_id: r.vmId, migration_id: r.migrationId, ...(r.targetDatastoreId ? { target_datastore_id: r.targetDatastoreId } : {}) }),
    activateIncoming: (r: TargetDirRequest) => post<{ pid: number; status: string }>("/internal/migrations/activate", targetDir(r)),
    abortIncoming: async (r: TargetDirRequest) => void (await post("/internal/migrations/abort", targetDir(r))),
    sendCompletion: async (r: CompletionRequest) =>
      void (await post("/internal/migrations/complete", { vm_id: r.vmId, ref: r.ref, outcome: r.outcome, migration_id: r.migrationId })),
  };
}

async function postToHost<T>(store: Inventory, hostId: string, urlPath: string, body: unknown, opts: PeerHostOptions): Promise<T> {
  const host = await store.hosts.get(hostId);
  if (!host) throw notFound("host", hostId, "host_id");
  const headers: Record<string, string> = { "content-type": "application/json", [HOST_ID_HEADER]: opts.selfHostId };
  if (opts.hostToken) headers[HOST_TOKEN_HEADER] = opts.hostToken;
  const deadline = AbortSignal.timeout(opts.timeoutMs ?? HOST_REQUEST_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(`${host.apiUrl}${urlPath}`, {
      method: "POST",
      headers,
      body: JSON.stringify(body ?? {}),
      signal: opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline,
    });
  } catch (err) {
    throw internal(`reaching host ${hostId} at ${host.apiUrl}`, err);
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? (JSON.parse(text) as unknown) : null;
  } catch (err) {
    throw internal(`host ${hostId} answered ${urlPath} with something other than JSON (HTTP ${res.status})`, err);
  }
  if (res.ok) return json as T;
  const e = (json as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
  throw new EngineError((e?.code as ErrorCode) ?? "CF_INTERNAL", res.status, `host ${hostId}: ${e?.message ?? `HTTP ${res.status}`}`, e?.field);
}
