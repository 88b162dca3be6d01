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
  expect(await sweepRamFiles(root, tmpfs)).toEqual({ removedFiles: [], removedFolders: [], refusedFolders: [] });
});

describe("a RAM folder someone else made first", () => {
  const NOBODY = 65534;
  let root: string;
  let vm: string;
  beforeEach(async () => {
    root = path.join(dir, "vms");
    vm = path.join(root, "vm-a");
    await fs.mkdir(vm, { recursive: true });
  });

  /** The folder's owner, mode and entries (names and their link targets), to show it was left as it was. */
  const snapshotOf = async (p: string) => {
    const st = await fs.lstat(p);
    const names = st.isDirectory() ? (await fs.readdir(p)).sort() : [];
    return { uid: st.uid, mode: st.mode & 0o7777, link: st.isSymbolicLink() ? await fs.readlink(p) : null, names };
  };

  test.each([
    ["the user folder belongs to another user", "top", "owner", /belongs to uid 65534/],
    ["the user folder is open to everyone", "top", "mode", /has mode 0777/],
    ["the user folder is a symlink", "top", "link", /is a symlink/],
    ["the root's folder belongs to another user", "root", "owner", /belongs to uid 65534/],
    ["the root's folder is open to everyone", "root", "mode", /has mode 0777/],
    ["the root's folder is a symlink", "root", "link", /is a symlink/],
  ] as const)("is refused and left untouched when %s", async (_what, level, how, message) => {
    const top = ramTmpfsRoot(tmpfs);
    const own = ramFolderOf(root, tmpfs);
    const planted = level === "top" ? top : own;
    if (level === "root") await fs.mkdir(top, { mode: 0o700 });
    // What another user would plant: a folder of theirs, with an owner file pointing at a file of theirs.
    const elsewhere = path.join(dir, "attacker");
    await fs.mkdir(elsewhere, { mode: 0o777 });
    await fs.chmod(elsewhere, 0o777);
    await fs.writeFile(path.join(elsewhere, "stolen"), "");
    if (how === "link") {
      await fs.symlink(elsewhere, planted);
    } else {
      await fs.mkdir(planted);
      await fs.chmod(planted, 0o777);
      if (level === "root") await fs.symlink(path.join(elsewhere, "stolen"), path.join(own, "owner"));
      if (how === "owner") {
        await fs.chmod(planted, 0o700);
        await fs.chown(planted, NOBODY, NOBODY);
      }
    }
    const before = await snapshotOf(planted);
    const attackerBefore = await snapshotOf(elsewhere);

    await expect(prepareRamFile(vm, tmpfs)).rejects.toThrow(message);
    await expect(prepareRamFile(vm, tmpfs)).rejects.toThrow(/another local user could read or replace guest memory/);

    expect(await snapshotOf(planted)).toEqual(before);
    expect(await snapshotOf(elsewhere)).toEqual(attackerBefore);
    expect(await fs.readFile(path.join(elsewhere, "stolen"), "utf8")).toBe("");
    expect(await exists(path.join(vm, "ram"))).toBe(false);
    // The start-up sweep neither follows nor removes what was planted.
    const report = await sweepRamFiles(root, tmpfs);
    expect(report.refusedFolders).toEqual([planted]);
    expect(report.removedFiles).toEqual([]);
    expect(await snapshotOf(planted)).toEqual(before);
    expect(await snapshotOf(elsewhere)).toEqual(attackerBefore);
  });

  test("the folders this engine makes are its own, 0700, and the owner file is a plain file", async () => {
    const file = await prepareRamFile(vm, tmpfs);
    for (const d of [ramTmpfsRoot(tmpfs), ramFolderOf(root, tmpfs)]) {
      const st = await fs.lstat(d);
      expect({ dir: d, uid: st.uid, mode: st.mode & 0o777 }).toEqual({ dir: d, uid: process.getuid!(), mode: 0o700 });
    }
    expect((await fs.lstat(path.join(path.dirname(file), "owner"))).isFile()).toBe(true);
    expect((await fs.lstat(file)).mode & 0o777).toBe(0o600);
  });
});
