import type { ClonefleetClient, DatastoreWire } from "../../engine/client";
import { computed, defineResource, optionalComputed, required } from "../framework";
import { datastoreProblems } from "../../engine/client/rules";
import { validateWith } from "./rule-diagnostics";

/** The state of `clonefleet_datastore`, attribute for attribute. */
export interface DatastoreState {
  id: string;
  name: string;
  path: string;
  shared: boolean;
  host_id: string | null;
}

/**
 * `clonefleet_datastore`: a directory on the engine host that holds disks. Its free space moves
 * on its own, so it is read through the `clonefleet_datastore` data source, not kept in state.
 */
export const datastore = defineResource<DatastoreState, ClonefleetClient>({
  typeName: "clonefleet_datastore",
  description:
    "A directory on the engine host where clonefleet keeps disks (in its `clonefleet/` subfolder). Its free and total space " +
    "are read with the `clonefleet_datastore` data source.",
  attributes: {
    id: computed("string", { description: "Datastore id, assigned by the engine.", keepPrior: true }),
    name: required("string", { description: "Unique name: letters, digits, `.`, `_`, `-`; at most 63 characters.", replace: true }),
    path: required("string", { description: "Absolute directory on the engine host; created when missing.", replace: true }),
    shared: optionalComputed("bool", {
      description:
        "True (default): every host sees the directory at the same path (NFS and the like). False: it belongs to `host_id`, or when that is " +
        "unset to the host of the engine the provider talks to. Changing it replaces the datastore.",
      replace: true,
      keepPrior: true,
    }),
    host_id: optionalComputed("string", {
      description:
        "The one host whose agent can read the directory; VMs, pools and fleets on it live on that host. Conflicts with `shared = true`. " +
        "Left unset, it reads the datastore's host (null when shared). Changing it replaces the datastore.",
      replace: true,
      keepPrior: true,
    }),
  },
  validate: validateWith(datastoreProblems),
  create: async (ctx, plan) =>
    fromApi(
      await ctx.client.datastores.create({
        name: plan.name!,
        path: plan.path!,
        ...(plan.shared !== null && plan.shared !== undefined ? { shared: plan.shared } : {}),
        ...(plan.host_id ? { host_id: plan.host_id } : {}),
      }),
    ),
  read: async (ctx, state) => {
    const d = await ctx.client.datastores.get(state.id);
    return d ? fromApi(d) : null;
  },
  delete: async (ctx, state) => {
    if (await ctx.client.datastores.get(state.id)) await ctx.client.datastores.delete(state.id);
  },
});

function fromApi(d: DatastoreWire): DatastoreState {
  return { id: d.id, name: d.name, path: d.path, shared: d.shared, host_id: d.host_id };
}
