/**
 * A clonefleet datastore and a template imported into it from an image on the engine host.
 * The engine is reached through `clonefleet:endpoint` / `clonefleet:token` (or the
 * CLONEFLEET_ENDPOINT / CLONEFLEET_TOKEN environment variables).
 */
import * as pulumi from "@pulumi/pulumi";
import * as clonefleet from "../../pulumi";

const config = new pulumi.Config();
const imagePath = config.require("imagePath");
const datastorePath = config.get("datastorePath") ?? "/var/tmp/clonefleet-example/store";

const store = new clonefleet.Datastore("example-store", {
  name: "example",
  path: datastorePath,
});

const base = new clonefleet.Template("example-base", {
  name: "example-base",
  datastoreId: store.id,
  sourcePath: imagePath,
  memoryMb: 256,
  vcpus: 1,
});

const chain = clonefleet.getDiskChainOutput({ path: base.diskPath });

export const datastoreId = store.id;
export const datastoreFreeBytes = store.freeBytes;
export const templateId = base.id;
export const templateDiskPath = base.diskPath;
export const templateContentId = base.contentId;
export const chainContentIds = chain.apply((c) => c.layers.map((l) => l.contentId));
