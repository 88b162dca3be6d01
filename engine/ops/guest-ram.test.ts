import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { prepareRamFile, ramFileOf, ramFolderOf, ramTmpfsRoot, removeRamFile, sweepRamFiles } from "./guest-ram";

let dir: string;
let tmpfs: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-ram-"));
  tmpfs = path.join(dir, "shm");
  await fs.mkdir(tmpfs);
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

const exists = (f: string) => fs.stat(f).then(() => true, () => false);

test("a VM's RAM is a link into its state root's own tmpfs folder, which names its owner", async () => {
  const root = path.join(dir, "vms");
  const vm = path.join(root, "vm-a");
  await fs.mkdir(vm, { recursive: true });
  const file = await prepareRamFile(vm, tmpfs);
  expect(path.dirname(file)).toBe(ramFolderOf(root, tmpfs));
  expect(await ramFileOf(vm)).toBe(file);
  expect((await fs.readFile(path.join(path.dirname(file), "owner"), "utf8")).trim()).toBe(root);
  // A second start gets a fresh file; the first is gone.
  const again = await prepareRamFile(vm, tmpfs);
  expect(again).not.toBe(file);
  expect(await exists(file)).toBe(false);
  expect(await removeRamFile(vm)).toBe(again);
  expect(await exists(again)).toBe(false);
  expect(await removeRamFile(vm)).toBeNull();
});

test("without a tmpfs the RAM stays a plain file in the state folder", async () => {
  const vm = path.join(dir, "vms", "vm-b");
  await fs.mkdir(vm, { recursive: true });
  expect(await prepareRamFile(vm, path.join(dir, "no-such-tmpfs"))).toBe(path.join(vm, "ram"));
});

test("a sweep keeps linked files and live roots' folders, and frees everything else", async () => {
  const root = path.join(dir, "vms");
  const [kept, unlinked] = [path.join(root, "vm-kept"), path.join(root, "vm-unlinked")];
  await fs.mkdir(kept, { recursive: true });
  await fs.mkdir(unlinked, { recursive: true });
  const keptFile = await prepareRamFile(kept, tmpfs);
  const strayFile = await prepareRamFile(unlinked, tmpfs);
  await fs.rm(path.join(unlinked, "ram"));

  const otherRoot = path.join(dir, "other", "vms");
  await fs.mkdir(path.join(otherRoot, "vm-x"), { recursive: true });
  const otherFile = await prepareRamFile(path.join(otherRoot, "vm-x"), tmpfs);
  const goneRoot = path.join(dir, "gone", "vms");
  await fs.mkdir(path.join(goneRoot, "vm-y"), { recursive: true });
  const goneFile = await prepareRamFile(path.join(goneRoot, "vm-y"), tmpfs);
  await fs.rm(path.join(dir, "gone"), { recursive: true });
  const loose = path.join(ramTmpfsRoot(tmpfs), "vm-old-0123456789ab.ram");
  await fs.writeFile(loose, "x");

  const report = await sweepRamFiles(root, tmpfs);
  expect(report.removedFiles.sort()).toEqual([loose, strayFile].sort());
  expect(report.removedFolders).toEqual([path.dirname(goneFile)]);
  expect(await exists(keptFile)).toBe(true);
  expect(await exists(otherFile)).toBe(true);
  expect(await exists(goneFile)).toBe(false);
  expect(await sweepRamFiles(root, tmpfs)).toEqual({ removedFiles: [], removedFolders: [] });
});
