import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { OutsideOwnedFolderError, ownedPath, removeOwnedTree } from "./owned-path";

let dir: string;
let root: string;
let outside: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-owned-"));
  root = path.join(dir, "root");
  outside = path.join(dir, "outside");
  await fs.mkdir(path.join(root, "vm-a"), { recursive: true });
  await fs.mkdir(outside);
  await fs.writeFile(path.join(outside, "sentinel"), "keep");
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

test("a folder or a not yet existing path inside the root is owned", async () => {
  expect(await ownedPath(root, path.join(root, "vm-a"))).toBe(path.join(await fs.realpath(root), "vm-a"));
  expect(await ownedPath(root, path.join(root, "vm-b", "new", "file"))).toBe(path.join(await fs.realpath(root), "vm-b", "new", "file"));
});

test("the root itself, its parent and `..` escapes are refused", async () => {
  for (const bad of [root, `${root}/`, dir, path.join(root, ".."), path.join(root, "..", "outside"), path.join(root, "vm-a", "..", "..", "x"), "/"]) {
    await expect(ownedPath(root, bad)).rejects.toThrow(OutsideOwnedFolderError);
  }
});

test("a symlink inside the root that points outside is refused, wherever it sits on the path", async () => {
  await fs.symlink(outside, path.join(root, "vm-link"));
  await expect(ownedPath(root, path.join(root, "vm-link"))).rejects.toThrow(/resolves to .*outside/);
  await expect(ownedPath(root, path.join(root, "vm-link", "sentinel"))).rejects.toThrow(OutsideOwnedFolderError);
  await expect(ownedPath(root, path.join(root, "vm-link", "missing", "file"))).rejects.toThrow(OutsideOwnedFolderError);
});

test("a dangling symlink pointing outside is refused: a write through it would land there", async () => {
  await fs.symlink(path.join(outside, "not-yet"), path.join(root, "dangling"));
  await expect(ownedPath(root, path.join(root, "dangling"))).rejects.toThrow(OutsideOwnedFolderError);
  await expect(ownedPath(root, path.join(root, "dangling", "x"))).rejects.toThrow(OutsideOwnedFolderError);
});

test("a root reached through a symlink still owns what lies inside it", async () => {
  const alias = path.join(dir, "alias");
  await fs.symlink(root, alias);
  expect(await ownedPath(alias, path.join(alias, "vm-a"))).toBe(path.join(await fs.realpath(root), "vm-a"));
  expect(await ownedPath(alias, path.join(root, "vm-a"))).toBe(path.join(await fs.realpath(root), "vm-a"));
});

test("removeOwnedTree removes an owned tree and leaves anything outside in place", async () => {
  await fs.writeFile(path.join(root, "vm-a", "f"), "x");
  await removeOwnedTree(root, path.join(root, "vm-a"));
  await expect(fs.stat(path.join(root, "vm-a"))).rejects.toThrow(/ENOENT/);
  await removeOwnedTree(root, path.join(root, "missing"));

  await fs.symlink(outside, path.join(root, "vm-link"));
  await expect(removeOwnedTree(root, path.join(root, "vm-link"))).rejects.toThrow(OutsideOwnedFolderError);
  await expect(removeOwnedTree(root, path.join(root, ".."))).rejects.toThrow(OutsideOwnedFolderError);
  expect(await fs.readFile(path.join(outside, "sentinel"), "utf8")).toBe("keep");
  expect((await fs.stat(root)).isDirectory()).toBe(true);
});

test("a symlink inside the root pointing inside it is removed as a link, its target kept", async () => {
  await fs.writeFile(path.join(root, "vm-a", "f"), "x");
  await fs.symlink(path.join(root, "vm-a"), path.join(root, "vm-alias"));
  await removeOwnedTree(root, path.join(root, "vm-alias"));
  expect(await fs.readFile(path.join(root, "vm-a", "f"), "utf8")).toBe("x");
  await expect(fs.lstat(path.join(root, "vm-alias"))).rejects.toThrow(/ENOENT/);
});
