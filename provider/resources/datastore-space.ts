import { ApiError, type ClonefleetClient, type DatastoreWire } from "../../engine/client";
import { nameProblem } from "../../engine/model/rules";
import { computed, defineDataSource, optionalComputed } from "../framework";

/** The state of `data.clonefleet_datastore`. */
export interface DatastoreSpaceState {
  id: string;
  name: string;
  path: string;
  reachable: boolean;
  free_bytes: number | null;
  total_bytes: number | null;
}

/**
 * `data.clonefleet_datastore`: one datastore and its space as measured when read, looked up by
 * id or name. Space moves on its own (every write changes it), which is why it lives here and
 * not in the `clonefleet_datastore` resource's state.
 */
export const datastoreSpace = defineDataSource<DatastoreSpaceState, ClonefleetClient>({
  typeName: "clonefleet_datastore",
  description:
    "A datastore and its space, measured when read: free and total bytes of the filesystem under it. Look it up by `id` " +
    "(such as `clonefleet_datastore.x.id`) or by `name` (set one). Space changes with every write, so it is read here rather " +
    "than kept in the resource's state.",
  attributes: {
    id: optionalComputed("string", { description: "Datastore id. Set this or `name`." }),
    name: optionalComputed("string", { description: "Datastore name. Set this or `id`." }),
    path: computed("string", { description: "Directory on the engine host." }),
    reachable: computed("bool", { description: "Whether the engine could read the directory when measuring it." }),
    free_bytes: computed("number", { description: "Free bytes on the datastore's filesystem when read; null when unreachable." }),
    total_bytes: computed("number", { description: "Size in bytes of the datastore's filesystem; null when unreachable." }),
  },
  validate: (config, diags) => {
    const given = (v: unknown) => v !== null && v !== undefined;
    // An unknown value (from another resource) is checked at read time.
    if (config.id === null && config.name === null) diags.error("Missing datastore", "Set id or name to pick the datastore.", "id");
    if (given(config.id) && given(config.name)) diags.error("Conflicting datastore lookups", "Set id or name, not both.", "name");
    for (const field of ["id", "name"] as const) {
      if (typeof config[field] === "string") {
        const p = nameProblem(config[field]);
        if (p) diags.error(`Invalid ${field}`, `${field} ${p}.`, field);
      }
    }
  },
  read: async (ctx, config) => {
    const found = config.id ? await ctx.client.datastores.get(config.id) : (await ctx.client.datastores.list()).find((d) => d.name === config.name);
    if (!found) {
      const field = config.id ? "id" : "name";
      const known = (await ctx.client.datastores.list()).map((d) => `${d.name} (${d.id})`);
      throw new ApiError(404, "CF_NOT_FOUND", `${field}: no datastore ${JSON.stringify(config.id ?? config.name)} on the engine (its datastores: ${known.join(", ") || "none"})`, field);
    }
    return fromApi(found);
  },
});

function fromApi(d: DatastoreWire): DatastoreSpaceState {
  return { id: d.id, name: d.name, path: d.path, reachable: d.reachable, free_bytes: d.free_bytes, total_bytes: d.total_bytes };
}
