/** The clonefleet Terraform provider: its configuration and every resource it serves. */
import type { ClonefleetClient } from "../engine/client";
import { configureClient, DEFAULT_ENDPOINT, type ProviderModel } from "./client";
import { defineProvider, optional } from "./framework";
import { dataSources, resources } from "./resources";

export const clonefleetProvider = defineProvider<ProviderModel, ClonefleetClient>({
  typeName: "clonefleet",
  description: "Declarative fleets of QEMU VMs, driven through a clonefleet engine's HTTP API.",
  attributes: {
    endpoint: optional("string", { description: `URL of the clonefleet engine API; defaults to CLONEFLEET_ENDPOINT, then ${DEFAULT_ENDPOINT}.` }),
    token: optional("string", { description: "API token of the engine (its <state-dir>/token); defaults to CLONEFLEET_TOKEN.", sensitive: true }),
  },
  validate: (config, diags) => {
    if (typeof config.endpoint === "string") {
      try {
        new URL(config.endpoint);
      } catch {
        diags.error("Invalid clonefleet endpoint", `endpoint must be an http(s) URL such as ${DEFAULT_ENDPOINT}.`, "endpoint");
      }
    }
  },
  configure: (config, diags) => configureClient(config, diags),
  resources,
  dataSources,
});
