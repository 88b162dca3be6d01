import { ApiError, type ClonefleetClient, type HostWire } from "../../engine/client";
import { nameProblem } from "../../engine/model/rules";
import { computed, defineDataSource, optionalComputed } from "../framework";

/** The state of `data.clonefleet_host`. */
export interface HostState {
  id: string;
  name: string;
  api_url: string;
  status: string;
  down_reason: string | null;
  last_heartbeat_at: string;
  vm_count: number;
  started_at: string;
}

/** `data.clonefleet_host`: one host (engine agent) and its health, looked up by id or by name (S6). */
export const host = defineDataSource<HostState, ClonefleetClient>({
  typeName: "clonefleet_host",
  description:
    "A host: an engine agent that runs the QEMU processes of the VMs placed on it (the first engine is host `local`; another engine started " +
    "on the same state folder with `--host-name` joins as another). Look it up by `id` or by `name` (set one); its `id` is what " +
    "`clonefleet_vm.host_id` takes. `status` is judged from its heartbeat when read.",
  attributes: {
    id: optionalComputed("string", { description: "Host id (its name, such as `local`). Set this or `name`." }),
    name: optionalComputed("string", { description: "Host name, as given to `engine serve --host-name`. Set this or `id`." }),
    api_url: computed("string", { description: "Where its agent serves the engine API; requests for its VMs are carried out there." }),
    status: computed("string", { description: "`up` while it heartbeats; `down` once it stopped or stopped answering." }),
    down_reason: computed("string", { description: "Why it is down (`stopped`, `not answering`, no heartbeat for a while); null while up." }),
    last_heartbeat_at: computed("string", { description: "Time of its last heartbeat (ISO 8601)." }),
    vm_count: computed("number", { description: "VMs placed on it." }),
    started_at: computed("string", { description: "When its engine process started (ISO 8601)." }),
  },
  validate: (config, diags) => {
    const given = (v: unknown) => v !== null && v !== undefined;
    // An unknown value (from another resource) is checked at read time.
    if (config.id === null && config.name === null) diags.error("Missing host", "Set id or name to pick the host.", "id");
    if (given(config.id) && given(config.name)) diags.error("Conflicting host lookups", "Set id or name, not both.", "name");
    for (const field of ["id", "name"] as const) {
      if (typeof config[field] === "string") {
        const p = nameProblem(config[field]);
        if (p) diags.error(`Invalid ${field}`, `${field} ${p}.`, field);
      }
    }
  },
  read: async (ctx, config) => {
    const found = config.id ? await ctx.client.hosts.get(config.id) : (await ctx.client.hosts.list()).find((h) => h.name === config.name);
    if (!found) {
      const field = config.id ? "id" : "name";
      const known = (await ctx.client.hosts.list()).map((h) => h.id);
      throw new ApiError(404, "CF_NOT_FOUND", `${field}: no host ${JSON.stringify(config.id ?? config.name)} on the engine (its hosts: ${known.join(", ") || "none"})`, field);
    }
    return fromApi(found);
  },
});

function fromApi(h: HostWire): HostState {
  return {
    id: h.id,
    name: h.name,
    api_url: h.api_url,
    status: h.status,
    down_reason: h.down_reason,
    last_heartbeat_at: h.last_heartbeat_at,
    vm_count: h.vm_count,
    started_at: h.started_at,
  };
}
