/**
 * Finding a disk's block nodes in a running QEMU by node name. A qcow2 node's own `file` (and
 * `image.filename`) is not its path when QEMU was given a layer's backing explicitly and the
 * header names it differently (a relative backing path): QEMU then calls the node
 * `json:{…}`. The protocol node under it always carries the plain path, and the block graph
 * says which format node sits on which protocol node and what backs what.
 */
import { HypervisorError } from "./errors";
import type { QmpClient } from "./qmp/client";
import type { BlockDeviceInfo, BlockGraph } from "./qmp/commands";

/** One format layer of a disk as QEMU has it open: its node name and the path of its file. */
export interface LiveLayer {
  node: string;
  file: string;
}

/** The qdev id the engine gives a VM's first disk (see args.ts). */
const FIRST_DISK_QDEV = "disk0-dev";

/** Deepest chain walked; a longer one means a cycle or a broken graph. */
const MAX_CHAIN_DEPTH = 256;

/** No format node of the disk's chain sits on the given file. */
export class BlockNodeNotFoundError extends HypervisorError {
  constructor(readonly file: string, chain: readonly LiveLayer[]) {
    super(`QEMU has no layer on ${file} in the disk's chain (${chain.map((l) => `${l.node}=${l.file}`).join(" → ") || "empty"})`);
    this.name = "BlockNodeNotFoundError";
  }
}

/**
 * The chain under format node `topNode`, top first, from the block graph and the node list:
 * each layer's file is that of the protocol node on its `file` edge. Pure; throws
 * HypervisorError when the graph does not hold `topNode` or a layer has no file node.
 */
export function chainUnder(topNode: string, graph: BlockGraph, nodes: readonly BlockDeviceInfo[]): LiveLayer[] {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const idOf = new Map(graph.nodes.filter((n) => n.type === "block-driver").map((n) => [n.name, n.id]));
  const fileOf = new Map(nodes.map((n) => [n["node-name"], n.file]));
  const child = (parent: number, edge: string) => {
    const e = graph.edges.find((x) => x.parent === parent && x.name === edge);
    return e ? byId.get(e.child) : undefined;
  };
  const layers: LiveLayer[] = [];
  let id = idOf.get(topNode);
  if (id === undefined) throw new HypervisorError(`QEMU's block graph has no node ${topNode}`);
  while (id !== undefined) {
    if (layers.length >= MAX_CHAIN_DEPTH) throw new HypervisorError(`the chain under ${topNode} is deeper than ${MAX_CHAIN_DEPTH} layers`);
    const node = byId.get(id)!;
    const proto = child(id, "file");
    const file = proto ? fileOf.get(proto.name) : undefined;
    if (!file) throw new HypervisorError(`block node ${node.name} has no file node`);
    layers.push({ node: node.name, file });
    id = child(id, "backing")?.id;
  }
  return layers;
}

/** The chain of a VM's first disk as its QEMU has it open now, top first; throws HypervisorError when the VM has no disk. */
export async function liveDiskChain(qmp: QmpClient): Promise<LiveLayer[]> {
  const blocks = await qmp.execute("query-block");
  const disk = blocks.find((b) => (b.qdev ?? "").includes(FIRST_DISK_QDEV)) ?? blocks.find((b) => b.inserted);
  const top = disk?.inserted?.["node-name"];
  if (!top) throw new HypervisorError("the VM has no disk device in query-block");
  const [graph, nodes] = await Promise.all([qmp.execute("x-debug-query-block-graph"), qmp.execute("query-named-block-nodes", { flat: true })]);
  return chainUnder(top, graph, nodes);
}

/** Node name of the layer of the VM's disk chain that sits on `file`; throws BlockNodeNotFoundError when none does. */
export async function nodeOfFile(qmp: QmpClient, file: string): Promise<string> {
  const chain = await liveDiskChain(qmp);
  const hit = chain.find((l) => l.file === file);
  if (!hit) throw new BlockNodeNotFoundError(file, chain);
  return hit.node;
}

/**
 * The format node on `file` anywhere in QEMU's block graph, in the disk's chain or not (a
 * layer a commit dropped that the monitor still holds), or null when there is none.
 */
export async function anyNodeOnFile(qmp: QmpClient, file: string): Promise<string | null> {
  const [graph, nodes] = await Promise.all([qmp.execute("x-debug-query-block-graph"), qmp.execute("query-named-block-nodes", { flat: true })]);
  const protocol = new Set(nodes.filter((n) => n.file === file).map((n) => n["node-name"]));
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const edge = graph.edges.find((e) => e.name === "file" && protocol.has(byId.get(e.child)?.name ?? "") && byId.get(e.parent)?.type === "block-driver");
  return edge ? byId.get(edge.parent)!.name : null;
}

/** The top node of the VM's disk chain and the chain's files, top first (see liveDiskChain). */
export async function liveChainFiles(qmp: QmpClient): Promise<{ node: string; files: string[] }> {
  const layers = await liveDiskChain(qmp);
  return { node: layers[0].node, files: layers.map((l) => l.file) };
}

/**
 * Frees a format node a commit dropped from the chain that the monitor still holds (one added
 * with -blockdev), and its protocol node `<node>-file`; nodes already gone are no error.
 */
export async function dropBlockNode(qmp: QmpClient, node: string): Promise<void> {
  await qmp.execute("blockdev-del", { "node-name": node }).catch(() => undefined);
  await qmp.execute("blockdev-del", { "node-name": `${node}-file` }).catch(() => undefined);
}
