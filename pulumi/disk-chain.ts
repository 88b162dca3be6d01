/**
 * `getDiskChain`: the data-source style lookup of a disk's backing chain, each layer with its
 * content IDs. It runs in the program process, so it uses the typed client directly.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ChainWire } from "../engine/client";
import { resolvePlainConnection } from "./connection";
import { connect, providerError } from "./provider-runtime";

/** Arguments of getDiskChain; the connection defaults as for resources. */
export interface GetDiskChainArgs {
  /** Absolute path of a disk inside a datastore. */
  path: string;
  /** Engine API URL; default: `clonefleet:endpoint` config, CLONEFLEET_ENDPOINT, then http://127.0.0.1:7420. */
  endpoint?: string;
  /** API token; default: `clonefleet:token` config, then CLONEFLEET_TOKEN. */
  token?: string;
}

/** One layer of a disk chain, top first. */
export interface DiskChainLayer {
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  backingPath: string | null;
  /** Null when neither the inventory nor a datastore catalog vouches for the file. */
  contentId: string | null;
  parentContentId: string | null;
  layerId: string | null;
  ownerKind: string | null;
  ownerId: string | null;
  datastoreId: string | null;
}

/** A disk's chain: its path, depth and layers (top first). */
export interface GetDiskChainResult {
  path: string;
  depth: number;
  layers: DiskChainLayer[];
}

/** Reads the backing chain of a disk from the engine; rejects with a `CF_…: message` error (bad path, unreachable engine, wrong token). */
export async function getDiskChain(args: GetDiskChainArgs): Promise<GetDiskChainResult> {
  const conn = resolvePlainConnection(args);
  const client = connect(conn);
  try {
    return chainFromWire(await client.disks.chain(args.path));
  } catch (err) {
    throw providerError(err, `read the disk chain of ${args.path}`, conn.endpoint);
  }
}

/** getDiskChain for inputs that are outputs of other resources, such as a Template's `diskPath`. */
export function getDiskChainOutput(args: {
  path: pulumi.Input<string>;
  endpoint?: pulumi.Input<string>;
  token?: pulumi.Input<string>;
}): pulumi.Output<GetDiskChainResult> {
  return pulumi.output(args).apply((a) => getDiskChain(a as GetDiskChainArgs));
}

function chainFromWire(c: ChainWire): GetDiskChainResult {
  return {
    path: c.path,
    depth: c.depth,
    layers: c.layers.map((l) => ({
      path: l.path,
      format: l.format,
      virtualSizeBytes: l.virtual_size_bytes,
      actualSizeBytes: l.actual_size_bytes,
      backingPath: l.backing_path,
      contentId: l.content_id,
      parentContentId: l.parent_content_id,
      layerId: l.layer_id,
      ownerKind: l.owner_kind,
      ownerId: l.owner_id,
      datastoreId: l.datastore_id,
    })),
  };
}
