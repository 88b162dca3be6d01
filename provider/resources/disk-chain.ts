import type { ChainWire, ClonefleetClient } from "../../engine/client";
import { absolutePathProblem } from "../../engine/model/rules";
import { computed, defineDataSource, required } from "../framework";
import type { CtyType } from "../protocol/cty";

const LAYER_TYPE: CtyType = [
  "object",
  {
    path: "string",
    format: "string",
    virtual_size_bytes: "number",
    actual_size_bytes: "number",
    backing_path: "string",
    content_id: "string",
    parent_content_id: "string",
  },
];

/** One layer as the data source exposes it. */
export interface ChainLayerState {
  path: string;
  format: string;
  virtual_size_bytes: number;
  actual_size_bytes: number;
  backing_path: string | null;
  content_id: string | null;
  parent_content_id: string | null;
}

/** The state of `data.clonefleet_disk_chain`. */
export interface DiskChainState {
  id: string;
  path: string;
  depth: number;
  layers: ChainLayerState[];
}

/** `data.clonefleet_disk_chain`: the layers of a disk inside a datastore, with content IDs. */
export const diskChain = defineDataSource<DiskChainState, ClonefleetClient>({
  typeName: "clonefleet_disk_chain",
  description: "The backing chain of a qcow2 disk inside a datastore, top layer first, with each layer's content ID.",
  attributes: {
    id: computed("string", { description: "The disk path (data sources need an id)." }),
    path: required("string", { description: "Absolute path of a disk inside a datastore." }),
    depth: computed("number", { description: "Number of layers in the chain." }),
    layers: computed(["list", LAYER_TYPE], {
      description: "Layers, top first: path, format, virtual_size_bytes, actual_size_bytes, backing_path, content_id (null when no record or catalog vouches for the file), parent_content_id.",
    }),
  },
  validate: (config, diags) => {
    if (typeof config.path === "string") {
      const p = absolutePathProblem(config.path);
      if (p) diags.error("Invalid disk path", `path ${p}.`, "path");
    }
  },
  read: async (ctx, config) => fromApi(await ctx.client.disks.chain(config.path!)),
});

function fromApi(c: ChainWire): DiskChainState {
  return {
    id: c.path,
    path: c.path,
    depth: c.depth,
    layers: c.layers.map((l) => ({
      path: l.path,
      format: l.format,
      virtual_size_bytes: l.virtual_size_bytes,
      actual_size_bytes: l.actual_size_bytes,
      backing_path: l.backing_path,
      content_id: l.content_id,
      parent_content_id: l.parent_content_id,
    })),
  };
}
