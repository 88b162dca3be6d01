import { stratify, tree, type HierarchyPointNode } from "d3-hierarchy";
import { bytes, shortId } from "./format";
import type { DatastoreLayerWire } from "./wire";

const NODE_W = 260;
const NODE_H = 64;
const GAP_X = 24;
const GAP_Y = 40;
const ROOT = "\0datastore";

type Node = { id: string; parentId: string | null; layer: DatastoreLayerWire | null };

/**
 * A datastore's recorded layers as a tree drawn with d3-hierarchy: each base hangs from the
 * datastore, each overlay from the layer it rests on. `focus` (paths, top first) marks one
 * disk's chain and limits the drawing to the tree under that chain's base.
 */
export function ChainTree(props: { layers: DatastoreLayerWire[]; focus?: string[]; ownerName?: (kind: string, id: string) => string }) {
  const byPath = new Map(props.layers.map((l) => [l.path, l]));
  const nodes: Node[] = [{ id: ROOT, parentId: null, layer: null }];
  for (const l of props.layers) nodes.push({ id: l.path, parentId: l.backing_path && byPath.has(l.backing_path) ? l.backing_path : ROOT, layer: l });
  const restingOn = new Map<string, number>();
  for (const l of props.layers) if (l.backing_path) restingOn.set(l.backing_path, (restingOn.get(l.backing_path) ?? 0) + 1);

  let root = stratify<Node>()
    .id((n) => n.id)
    .parentId((n) => n.parentId)(nodes);
  const focus = new Set(props.focus ?? []);
  if (props.focus?.length) {
    const base = props.focus[props.focus.length - 1];
    // A copy makes the base the root, its depth 0, so the drawing starts at the top (it keeps
    // `data` but not the stratify ids: read ids from data).
    root = root.find((n) => n.data.id === base)?.copy() ?? root;
  }
  const laid = tree<Node>().nodeSize([NODE_W + GAP_X, NODE_H + GAP_Y])(root);
  const all = laid.descendants();
  const minX = Math.min(...all.map((n) => n.x)) - NODE_W / 2 - 8;
  const maxX = Math.max(...all.map((n) => n.x)) + NODE_W / 2 + 8;
  const maxY = Math.max(...all.map((n) => n.y)) + NODE_H + 8;
  const link = (s: HierarchyPointNode<Node>, t: HierarchyPointNode<Node>) => {
    const y0 = s.y + NODE_H;
    const y1 = t.y;
    const mid = (y0 + y1) / 2;
    return `M${s.x},${y0} C${s.x},${mid} ${t.x},${mid} ${t.x},${y1}`;
  };
  const name = (l: DatastoreLayerWire) => props.ownerName?.(l.owner_kind, l.owner_id) ?? l.owner_id;
  return (
    <svg class="chain-tree" data-testid="chain-tree" viewBox={`${minX} -8 ${maxX - minX} ${maxY + 8}`} width={maxX - minX} height={maxY + 8} role="img" aria-label="disk layer tree">
      {laid.links().map((lk) => (
        <path key={`${lk.source.data.id}>${lk.target.data.id}`} class={focus.has(lk.target.data.id) && focus.has(lk.source.data.id) ? "link in-chain" : "link"} d={link(lk.source, lk.target)} />
      ))}
      {all.map((n) => {
        const l = n.data.layer;
        const x = n.x - NODE_W / 2;
        if (!l) {
          return (
            <g key={ROOT} class="layer root" transform={`translate(${x},${n.y})`}>
              <rect width={NODE_W} height={NODE_H} rx={6} />
              <text x={10} y={24}>
                datastore
              </text>
              <text x={10} y={44} class="sub">
                {props.layers.length} layers
              </text>
            </g>
          );
        }
        const resting = restingOn.get(l.path) ?? 0;
        return (
          <g
            key={l.path}
            class={`layer owner-${l.owner_kind}${focus.has(l.path) ? " in-chain" : ""}${l.state !== "ready" ? " drifted" : ""}`}
            transform={`translate(${x},${n.y})`}
            data-testid="layer"
            data-path={l.path}
            data-content-id={l.content_id}
            data-in-chain={focus.has(l.path) ? "true" : "false"}
          >
            <title>{`${l.path}\ncontent ID ${l.content_id}\nowner ${l.owner_kind} ${l.owner_id}\n${resting} layer(s) rest on it`}</title>
            <rect width={NODE_W} height={NODE_H} rx={6} />
            <text x={10} y={18}>
              {/* A VM's layer under others is a base a fork froze: it is kept while anything rests on it. */}
              {l.owner_kind === "vm" && resting > 0 ? "frozen base of vm" : l.owner_kind} {name(l)}
            </text>
            <text x={10} y={36} class="sub">
              {shortId(l.content_id)} · {bytes(l.allocated_bytes)} of {bytes(l.virtual_size_bytes)}
            </text>
            <text x={10} y={54} class="sub">
              {resting === 0 ? "nothing rests on it" : `${resting} rest${resting === 1 ? "s" : ""} on it`}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
