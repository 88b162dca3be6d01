import { execFileSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { listImageReferences, standaloneImageProblem, type ImageReference } from "./image-references";

let dir: string;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-image-refs-"));
});

afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const p = (...names: string[]) => path.join(dir, ...names);

function qemuImg(...args: string[]): string {
  return execFileSync("qemu-img", args, { encoding: "utf8" });
}

function referencesOf(image: string): ImageReference[] {
  return listImageReferences(JSON.parse(qemuImg("info", "--output=json", image)), image);
}

/** A hand-written monolithicFlat vmdk descriptor whose one extent is `extent` (as written in the descriptor). */
async function writeFlatVmdk(descriptor: string, extent: string): Promise<void> {
  const text = [
    "# Disk DescriptorFile",
    "version=1",
    "CID=fffffffe",
    "parentCID=ffffffff",
    'createType="monolithicFlat"',
    "",
    `RW 2048 FLAT "${extent}" 0`,
    "",
    'ddb.adapterType = "ide"',
    "",
  ].join("\n");
  await fsp.writeFile(descriptor, text);
}

describe("listImageReferences", () => {
  test("a standalone qcow2, raw and monolithicSparse vmdk reference nothing", () => {
    qemuImg("create", "-q", "-f", "qcow2", p("a.qcow2"), "1M");
    qemuImg("create", "-q", "-f", "raw", p("a.raw"), "1M");
    qemuImg("create", "-q", "-f", "vmdk", p("a.vmdk"), "1M");
    expect(referencesOf(p("a.qcow2"))).toEqual([]);
    expect(referencesOf(p("a.raw"))).toEqual([]);
    expect(referencesOf(p("a.vmdk"))).toEqual([]);
  });

  test("a qcow2 made with -b names its backing file, resolved against its folder", async () => {
    await fsp.mkdir(p("sub"));
    qemuImg("create", "-q", "-f", "raw", p("secret.raw"), "1M");
    qemuImg("create", "-q", "-f", "qcow2", "-b", "../secret.raw", "-F", "raw", p("sub", "top.qcow2"), "1M");
    expect(referencesOf(p("sub", "top.qcow2"))).toEqual([{ kind: "backing file", target: p("secret.raw") }]);
  });

  test("a json: backing filename is kept as written", () => {
    const backing = `json:${JSON.stringify({ driver: "raw", file: { driver: "file", filename: p("secret.raw") } })}`;
    qemuImg("create", "-q", "-f", "raw", p("secret.raw"), "1M");
    qemuImg("create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", p("top.qcow2"), "1M");
    expect(referencesOf(p("top.qcow2"))).toEqual([{ kind: "backing file", target: backing }]);
  });

  test("a qcow2 made with -o data_file names its external data file", () => {
    qemuImg("create", "-q", "-f", "qcow2", "-o", `data_file=${p("data.raw")}`, p("df.qcow2"), "1M");
    expect(referencesOf(p("df.qcow2"))).toEqual([{ kind: "data file", target: p("data.raw") }]);
  });

  test("a vmdk descriptor names its extents, absolute or relative to its folder", async () => {
    await fsp.mkdir(p("sub"));
    qemuImg("create", "-q", "-f", "raw", p("secret.raw"), "1M");
    await writeFlatVmdk(p("sub", "abs.vmdk"), p("secret.raw"));
    await writeFlatVmdk(p("sub", "rel.vmdk"), "../secret.raw");
    expect(referencesOf(p("sub", "abs.vmdk"))).toEqual([{ kind: "extent", target: p("secret.raw") }]);
    expect(referencesOf(p("sub", "rel.vmdk"))).toEqual([{ kind: "extent", target: p("secret.raw") }]);
  });
});

describe("standaloneImageProblem", () => {
  test("accepts no references and extents inside the image's folder", () => {
    expect(standaloneImageProblem([], dir)).toBeNull();
    expect(standaloneImageProblem([{ kind: "extent", target: p("disk-flat.vmdk") }], dir)).toBeNull();
    expect(standaloneImageProblem([{ kind: "extent", target: p("parts", "s001.vmdk") }], dir)).toBeNull();
  });

  test.each<[string, ImageReference, RegExp]>([
    ["a backing file, even beside the image", { kind: "backing file", target: "/same/dir/base.qcow2" }, /backing file \/same\/dir\/base\.qcow2/],
    ["a data file", { kind: "data file", target: "/same/dir/data.raw" }, /data file \/same\/dir\/data\.raw/],
    ["an extent outside the folder", { kind: "extent", target: "/etc/shadow" }, /extent \/etc\/shadow outside its folder \/same\/dir/],
    ["an extent in a sibling folder with a common prefix", { kind: "extent", target: "/same/dir2/x" }, /extent \/same\/dir2\/x/],
    ["a protocol extent", { kind: "extent", target: "nbd://host/x" }, /extent nbd:\/\/host\/x/],
  ])("refuses %s", (_label, ref, words) => {
    const problem = standaloneImageProblem([ref], "/same/dir");
    expect(problem).toMatch(words);
    expect(problem).toContain("only a standalone image can be imported");
  });
});
