import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { JobFailedError } from "../../engine/client";
import { apiError } from "../support/api-error";
import { importTemplate, makeDataImage } from "../support/clones";
import { startTestEngine, type TestEngine } from "../support/engine";
import { filesUnder } from "../support/files";
import { createVm, vmFixture } from "../support/vms";

const run = promisify(execFile);

/** The rejection of a job as JobFailedError; fails the test when the job succeeds. */
async function jobFailure(p: Promise<unknown>): Promise<JobFailedError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof JobFailedError) return err;
    throw err;
  }
  throw new Error("expected the job to fail");
}

const exists = (p: string) => fs.lstat(p).then(() => true, () => false);

describe("confinement: datastores and backups stay out of the host's own folders", () => {
  let t: TestEngine;
  let backupDir: string;
  let outside: string;
  let fx: { datastoreId: string; templateId: string };
  let dsPath: string;

  beforeAll(async () => {
    backupDir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-backups-"));
    t = await startTestEngine({ engine: { backupDirs: [backupDir] } });
    // A folder that is neither a datastore nor a backup folder, standing in for /etc/cron.d.
    outside = path.join(t.dir, "outside");
    await fs.mkdir(outside);
    fx = await vmFixture(t.client, t.dir);
    dsPath = path.join(t.dir, "ds");
  });
  afterAll(async () => {
    await t.stop();
    await fs.rm(backupDir, { recursive: true, force: true });
  });

  const refusedDatastorePaths: [string, () => Promise<string>, string][] = [
    ["/proc/self", async () => "/proc/self", "system folder /proc"],
    ["/sys/kernel", async () => "/sys/kernel", "system folder /sys"],
    ["/dev/shm/x", async () => "/dev/shm/cf-confinement-test", "system folder /dev"],
    ["/etc/x", async () => "/etc/cf-confinement-test", "system folder /etc"],
    ["/ itself", async () => "/", "root folder"],
    ["a path with a newline", async () => path.join(t.dir, "new\nline"), "control characters"],
    ["a path with a tab", async () => path.join(t.dir, "tab\there"), "control characters"],
    [
      "a symlink to /proc",
      async () => {
        const link = path.join(t.dir, "to-proc");
        await fs.symlink("/proc/self", link).catch(() => undefined);
        return path.join(link, "ds");
      },
      "system folder /proc",
    ],
    ["a folder in the state folder", async () => path.join(t.stateDir, "ds"), "state folder"],
    [
      "a symlink into the state folder",
      async () => {
        const link = path.join(t.dir, "to-state");
        await fs.symlink(t.stateDir, link).catch(() => undefined);
        return path.join(link, "ds");
      },
      "state folder",
    ],
  ];
  it.each(refusedDatastorePaths)("datastore path %s: a fast 400 naming path, nothing created", async (_label, make, words) => {
    const p = await make();
    const before = (await t.client.datastores.list()).map((d) => d.id);
    const existed = await exists(p);
    const t0 = Date.now();
    const err = await apiError(t.client.datastores.create({ name: "refused", path: p }));
    // A /proc path used to hang the request for ever while the engine spun the CPU.
    expect(Date.now() - t0).toBeLessThan(3000);
    expect([err.status, err.code, err.field]).toEqual([400, "CF_INVALID_FIELD", "path"]);
    expect(err.message).toContain(words);
    expect((await t.client.datastores.list()).map((d) => d.id)).toEqual(before);
    if (!existed) expect(await exists(p)).toBe(false);
  });

  it("a datastore path through a symlink into another datastore is refused (409 naming path)", async () => {
    const link = path.join(t.dir, "to-ds");
    await fs.symlink(dsPath, link);
    const err = await apiError(t.client.datastores.create({ name: "nested", path: path.join(link, "inner") }));
    expect([err.status, err.field]).toEqual([409, "path"]);
    expect(err.message).toContain("inside datastore");
    expect(await exists(path.join(dsPath, "inner"))).toBe(false);
  });

  it("template: vcpus 256 (q35 starts 255 at most) and a kernel command line with a newline are refused at the request", async () => {
    const image = await makeDataImage(path.join(t.dir, "small.raw"), 4, 1);
    const kernel = path.join(t.dir, "vmlinuz");
    await fs.writeFile(kernel, "not really a kernel");
    const jobsBefore = (await t.client.jobs.list()).length;
    const cpus = await apiError(t.client.templates.import({ name: "cpus", datastore_id: fx.datastoreId, source_path: image, vcpus: 256 }));
    expect([cpus.status, cpus.code, cpus.field]).toEqual([400, "CF_INVALID_FIELD", "vcpus"]);
    expect(cpus.message).toContain("between 1 and 255");
    for (const cmdline of ["console=ttyS0\ninit=/bin/sh", "console=ttyS0\tquiet"]) {
      const err = await apiError(t.client.templates.import({ name: "cmd", datastore_id: fx.datastoreId, source_path: image, kernel, cmdline }));
      expect([err.status, err.code, err.field]).toEqual([400, "CF_INVALID_FIELD", "cmdline"]);
      expect(err.message).toContain("control characters");
    }
    const path1 = await apiError(t.client.templates.import({ name: "nl", datastore_id: fx.datastoreId, source_path: `${image}\n` }));
    expect([path1.status, path1.field]).toEqual([400, "source_path"]);
    expect((await t.client.jobs.list()).length).toBe(jobsBefore);
  });

  describe("backups", () => {
    let vmId: string;
    beforeAll(async () => {
      vmId = (await createVm(t.client, "bk", fx.templateId)).id;
    });

    const refusedTargets: [string, () => Promise<string>][] = [
      ["a folder that is neither a datastore nor a backup folder", async () => path.join(outside, "cron-job")],
      ["the state folder", async () => path.join(t.stateDir, "x.qcow2")],
      [
        "a symlinked folder inside a datastore that points outside",
        async () => {
          const link = path.join(dsPath, "escape");
          await fs.symlink(outside, link).catch(() => undefined);
          return path.join(link, "cron-job-2");
        },
      ],
      [
        "a symlinked folder inside the backup folder that points outside",
        async () => {
          const link = path.join(backupDir, "escape");
          await fs.symlink(outside, link).catch(() => undefined);
          return path.join(link, "cron-job-3");
        },
      ],
    ];
    it.each(refusedTargets)("a target in %s: 400 naming target_path, no file, no job", async (_label, make) => {
      const target = await make();
      const jobsBefore = (await t.client.jobs.list()).length;
      const err = await apiError(t.client.vms.backup(vmId, { target_path: target }));
      expect([err.status, err.code, err.field]).toEqual([400, "CF_INVALID_FIELD", "target_path"]);
      expect(err.message).toMatch(/outside every datastore's folder and backup folder|state folder/);
      expect(await exists(target)).toBe(false);
      expect(await filesUnder(outside)).toEqual([]);
      expect((await t.client.jobs.list()).length).toBe(jobsBefore);
      expect(await t.client.snapshots.list(vmId)).toEqual([]);
    });

    it("into a datastore's folder and into --backup-dir still works", async () => {
      for (const target of [path.join(dsPath, "bk.qcow2"), path.join(backupDir, "bk.qcow2")]) {
        const done = await t.client.waitJob((await t.client.vms.backup(vmId, { target_path: target })).id, { timeoutMs: 60_000 });
        expect(done.state).toBe("succeeded");
        const { stdout } = await run("qemu-img", ["check", "-U", target]);
        expect(stdout).toContain("No errors");
      }
      expect(await t.client.snapshots.list(vmId)).toEqual([]);
    });
  });
});

// Mounting a small filesystem needs root; elsewhere no disk can be made to fill up.
const asRoot = typeof process.getuid === "function" && process.getuid() === 0;

(asRoot ? describe : describe.skip)("disk full during import and backup answers CF_NO_SPACE", () => {
  let dir: string;
  let small: string;
  let mounted = false;
  let t: TestEngine | null = null;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-nospace-"));
    small = path.join(dir, "small");
    await fs.mkdir(small);
    await run("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", small]);
    mounted = true;
    t = await startTestEngine({ dir, engine: { backupDirs: [small] } });
  });
  afterAll(async () => {
    await t?.stop();
    if (mounted) await run("umount", [small]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("an import into a full datastore fails with CF_NO_SPACE and leaves no file", async () => {
    const smallDs = path.join(small, "ds");
    const ds = await t!.client.datastores.create({ name: "small", path: smallDs });
    const image = await makeDataImage(path.join(dir, "big.raw"), 16, 12);
    const job = await t!.client.templates.import({ name: "too-big", datastore_id: ds.id, source_path: image });
    const err = await jobFailure(t!.client.waitJob(job.id, { timeoutMs: 60_000 }));
    expect(err.code).toBe("CF_NO_SPACE");
    expect(err.message).toContain("no space left");
    expect(await t!.client.templates.list()).toEqual([]);
    expect(await filesUnder(path.join(smallDs, "clonefleet", "tmp"))).toEqual([]);
    expect(await filesUnder(path.join(smallDs, "clonefleet", "templates"))).toEqual([]);
    await t!.client.datastores.delete(ds.id);
  });

  it("a backup into a full folder fails with CF_NO_SPACE: no target, no part file, no snapshot left", async () => {
    const big = await t!.client.datastores.create({ name: "big", path: path.join(dir, "big") });
    const tpl = await importTemplate(t!.client, "data", big.id, await makeDataImage(path.join(dir, "data.raw"), 16, 12));
    const vm = await createVm(t!.client, "full-bk", tpl.id);
    const target = path.join(small, "vm.qcow2");
    const job = await t!.client.vms.backup(vm.id, { target_path: target });
    const err = await jobFailure(t!.client.waitJob(job.id, { timeoutMs: 60_000 }));
    expect(err.code).toBe("CF_NO_SPACE");
    expect(err.message).toContain(target);
    expect(await exists(target)).toBe(false);
    expect(await exists(path.join(small, ".vm.qcow2.cf-part"))).toBe(false);
    expect(await t!.client.snapshots.list(vm.id)).toEqual([]);
  });
});
