/**
 * `getHost`: the data-source style lookup of a host (an engine agent, S6) and its health, by id
 * or by name. It runs in the program process, so it uses the typed client directly.
 */
import * as pulumi from "@pulumi/pulumi";
import { ApiError, type HostWire } from "../engine/client";
import { resolvePlainConnection } from "./connection";
import { connect, providerError } from "./provider-runtime";

/** Arguments of getHost: `id` or `name` (one of them); the connection defaults as for resources. */
export interface GetHostArgs {
  /** Host id (its name, such as `local`). */
  id?: string;
  /** Host name, as given to `engine serve --host-name`. */
  name?: string;
  /** Engine API URL; default: `clonefleet:endpoint` config, CLONEFLEET_ENDPOINT, then http://127.0.0.1:7420. */
  endpoint?: string;
  /** API token; default: `clonefleet:token` config, then CLONEFLEET_TOKEN. */
  token?: string;
}

/** A host and its health, judged from its heartbeat when read. */
export interface GetHostResult {
  /** What a Vm's `hostId` takes. */
  id: string;
  name: string;
  /** Where its agent serves the engine API. */
  apiUrl: string;
  /** `up` while it heartbeats; `down` once it stopped or stopped answering. */
  status: string;
  downReason: string | null;
  lastHeartbeatAt: string;
  /** VMs placed on it. */
  vmCount: number;
  startedAt: string;
}

/**
 * Reads one host from the engine; rejects with a `CF_…: message` error naming `id` or `name`
 * (neither or both given, an unknown host, an unreachable engine, a wrong token).
 */
export async function getHost(args: GetHostArgs): Promise<GetHostResult> {
  const conn = resolvePlainConnection(args);
  const given = (v: unknown) => v !== undefined && v !== null;
  if (given(args.id) === given(args.name)) {
    throw providerError(new ApiError(400, "CF_INVALID_FIELD", "id: set id or name (one of them) to pick the host", "id"), "look up a host", conn.endpoint);
  }
  const client = connect(conn);
  const field = given(args.id) ? "id" : "name";
  const wanted = (args.id ?? args.name)!;
  try {
    const found = args.id ? await client.hosts.get(args.id) : (await client.hosts.list()).find((h) => h.name === args.name);
    if (!found) {
      const known = (await client.hosts.list()).map((h) => h.id);
      throw new ApiError(404, "CF_NOT_FOUND", `${field}: no host ${JSON.stringify(wanted)} on the engine (its hosts: ${known.join(", ") || "none"})`, field);
    }
    return hostFromWire(found);
  } catch (err) {
    throw providerError(err, `look up host ${JSON.stringify(wanted)}`, conn.endpoint);
  }
}

/** getHost for inputs that are outputs of other resources or config. */
export function getHostOutput(args: { id?: pulumi.Input<string>; name?: pulumi.Input<string>; endpoint?: pulumi.Input<string>; token?: pulumi.Input<string> }): pulumi.Output<GetHostResult> {
  return pulumi.output(args).apply((a) => getHost(a as GetHostArgs));
}

function hostFromWire(h: HostWire): GetHostResult {
  return {
    id: h.id,
    name: h.name,
    apiUrl: h.api_url,
    status: h.status,
    downReason: h.down_reason,
    lastHeartbeatAt: h.last_heartbeat_at,
    vmCount: h.vm_count,
    startedAt: h.started_at,
  };
}
