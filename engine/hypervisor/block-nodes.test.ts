import { chainUnder } from "./block-nodes";
import type { BlockDeviceInfo, BlockGraph } from "./qmp/commands";

// The graph QEMU 7.2 reports for a linked clone after one live snapshot: snap-1 on disk0 on disk0-b1.
const graph: BlockGraph = {
  nodes: [
    { name: "snap-1", type: "block-driver", id: 2 },
    { name: "#block320", type: "block-driver", id: 7 },
    { name: "disk0", type: "block-driver", id: 6 },
    { name: "disk0-file", type: "block-driver", id: 5 },
    { name: "disk0-b1", type: "block-driver", id: 4 },
    { name: "disk0-b1-file", type: "block-driver", id: 3 },
    { name: "/machine/peripheral/disk0-dev/virtio-backend", type: "block-backend", id: 1 },
  ],
  edges: [
    { name: "file", parent: 2, child: 7 },
    { name: "backing", parent: 2, child: 6 },
    { name: "file", parent: 6, child: 5 },
    { name: "backing", parent: 6, child: 4 },
    { name: "file", parent: 4, child: 3 },
    { name: "root", parent: 1, child: 2 },
  ],
};
const node = (name: string, drv: string, file: string) => ({ "node-name": name, drv, file }) as BlockDeviceInfo;
const nodes = [
  node("snap-1", "qcow2", "/ds/vms/a/s1.qcow2"),
  node("#block320", "file", "/ds/vms/a/s1.qcow2"),
  node("disk0", "qcow2", 'json:{"backing": {"driver": "qcow2"}, "driver": "qcow2"}'),
  node("disk0-file", "file", "/ds/vms/a/disk.qcow2"),
  node("disk0-b1", "qcow2", "/ds/templates/t/disk.qcow2"),
  node("disk0-b1-file", "file", "/ds/templates/t/disk.qcow2"),
];

test("the chain under the top node, with each layer's file from its protocol node (not the json: filename)", () => {
  expect(chainUnder("snap-1", graph, nodes)).toEqual([
    { node: "snap-1", file: "/ds/vms/a/s1.qcow2" },
    { node: "disk0", file: "/ds/vms/a/disk.qcow2" },
    { node: "disk0-b1", file: "/ds/templates/t/disk.qcow2" },
  ]);
  expect(chainUnder("disk0", graph, nodes).map((l) => l.node)).toEqual(["disk0", "disk0-b1"]);
});

test("an unknown top node or a layer without a file node is an error, not an empty chain", () => {
  expect(() => chainUnder("nope", graph, nodes)).toThrow(/no node nope/);
  const cut = { ...graph, edges: graph.edges.filter((e) => !(e.parent === 4 && e.name === "file")) };
  expect(() => chainUnder("snap-1", cut, nodes)).toThrow(/disk0-b1 has no file node/);
});

test("a backing cycle ends with an error instead of a hang", () => {
  const cyclic = { ...graph, edges: [...graph.edges, { name: "backing", parent: 4, child: 2 }] };
  expect(() => chainUnder("snap-1", cyclic, nodes)).toThrow(/deeper than/);
});
