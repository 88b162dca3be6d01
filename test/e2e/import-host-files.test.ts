import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { JobFailedError } from "../../engine/client";
import { apiError } from "../support/api-error";
import { hasPattern, makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

const run = promisify(execFile);
const SECRET_PATTERN = 0x5e;

/** Every file under `dir`, sorted; a missing folder has none. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, e.name);
    out.push(full, ...(e.isDirectory() ? await filesUnder(full) : []));
  }
  return out.sort();
}

/** A monolithicFlat vmdk descriptor written by hand, whose one extent is `extent`. */
function flatVmdkDescriptor(extent: string, sectors: number): string {
  return ["# Disk DescriptorFile", "version=1", "CID=fffffffe", "parentCID=ffffffff", 'createType="monolithicFlat"', "", `RW ${sectors} FLAT "${extent}" 0`, ""].join("\n");
}

describe("template import reads no file but the source: images that name other files are refused", () => {
  let t: TestEngine;
  let dsPath: string;
  let dsId: string;
  let secret: string;
  let src: string;

  beforeAll(async () => {
    // One job at a time and a slow copy, so an import can be held in the queue (the swap case).
    t = await startTestEngine({ engine: { jobConcurrency: 1, copyRateLimitBytesPerSec: 8 * 1024 * 1024 } });
    dsPath = path.join(t.dir, "ds");
    dsId = (await t.client.datastores.create({ name: "ds", path: dsPath })).id;
    const secretDir = path.join(t.dir, "secret");
    await fs.mkdir(secretDir, { mode: 0o700 });
    secret = await makeRawImage(path.join(secretDir, "key.raw"), 1, SECRET_PATTERN);
    await fs.chmod(secret, 0o600);
    src = path.join(t.dir, "src");
    await fs.mkdir(src);

    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", secret, "-F", "raw", path.join(src, "backed.qcow2"), "1M"]);
    await fs.writeFile(path.join(src, "extent.vmdk"), flatVmdkDescriptor(secret, 2048));
    // qemu-img create makes (truncates) the data file it names, so the qcow2 is pointed at the secret afterwards.
    const dataFile = path.join(src, "data-file.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${path.join(src, "scratch.raw")},data_file_raw=on`, dataFile, "1M"]);
    await run("qemu-img", ["amend", "-o", `data_file=${secret}`, dataFile]);
    // A "raw" disk whose first bytes are a qcow2 header with a backing file: padded to whole sectors.
    const header = path.join(src, "header.raw");
    await fs.copyFile(path.join(src, "backed.qcow2"), header);
    await fs.truncate(header, 1024 * 1024);
    await fs.chmod(secretDir, 0o600);
  });
  afterAll(() => t.stop());

  it.each([
    ["a qcow2 whose backing file is a secret in a 0600 folder", "backed.qcow2", "backing file"],
    ["a vmdk whose extent is that secret", "extent.vmdk", "extent"],
    ["a qcow2 with an external data file", "data-file.qcow2", "data file"],
    ["a raw file that starts with a qcow2 header naming a backing file", "header.raw", "backing file"],
  ])("refuses %s with 400 naming source_path; nothing is recorded or written", async (_label, name, kind) => {
    const source = path.join(src, name);
    const filesBefore = await filesUnder(dsPath);
    const jobsBefore = (await t.client.jobs.list()).length;
    const err = await apiError(t.client.templates.import({ name: "stolen", datastore_id: dsId, source_path: source }));
    expect([err.status, err.code, err.field]).toEqual([400, "CF_INVALID_FIELD", "source_path"]);
    expect(err.message).toContain(source);
    expect(err.message).toContain(`${kind} ${secret}`);
    expect(err.message).toContain("standalone");
    expect(await t.client.templates.list()).toEqual([]);
    expect((await t.client.jobs.list()).length).toBe(jobsBefore);
    expect(await filesUnder(dsPath)).toEqual(filesBefore);
  });

  it("imports a standalone qcow2 and a raw file", async () => {
    const raw = await makeRawImage(path.join(src, "plain.raw"), 4, 0x21);
    const qcow2 = path.join(src, "plain.qcow2");
    await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
    for (const [name, source] of [
      ["from-raw", raw],
      ["from-qcow2", qcow2],
    ]) {
      const job = await t.client.templates.import({ name, datastore_id: dsId, source_path: source });
      const done = await t.client.waitJob(job.id);
      const diskPath = (done.result as { disk_path: string }).disk_path;
      expect(await hasPattern(diskPath, 0x21)).toBe(true);
    }
    expect((await t.client.templates.list()).map((x) => x.name).sort()).toEqual(["from-qcow2", "from-raw"]);
  });

  it("a source swapped for a qcow2 with a backing file after the request was accepted fails the job, naming source_path", async () => {
    const slow = await makeRawImage(path.join(src, "slow.raw"), 24, 0x33);
    // Data all through (holes would be skipped), so the capped copy takes seconds.
    await run("qemu-io", ["-f", "raw", "-c", "write -P 0x33 0 24M", slow]);
    const swapped = path.join(src, "swapped.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", swapped, "1M"]);
    const holder = await t.client.templates.import({ name: "holder", datastore_id: dsId, source_path: slow });
    const victim = await t.client.templates.import({ name: "swapped", datastore_id: dsId, source_path: swapped });
    expect((await t.client.jobs.get(victim.id)).state).toBe("queued");
    // Accepted as a standalone qcow2; replaced, while queued, by one that reads the secret.
    const evil = path.join(src, "evil.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", secret, "-F", "raw", evil, "1M"]);
    await fs.rename(evil, swapped);

    await t.client.waitJob(holder.id);
    const err = await t.client.waitJob(victim.id).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(JobFailedError);
    const failed = err as JobFailedError;
    expect([failed.code, failed.field]).toEqual(["CF_INVALID_FIELD", "source_path"]);
    expect(failed.message).toContain(`backing file ${secret}`);
    expect((await t.client.templates.list()).map((x) => x.name)).not.toContain("swapped");
    const leftovers = (await filesUnder(path.join(dsPath, "clonefleet", "tmp"))).filter((f) => f.endsWith(".part"));
    expect(leftovers).toEqual([]);
    // Only the holder and the two standalone imports have disks.
    const disks = (await filesUnder(path.join(dsPath, "clonefleet"))).filter((f) => f.endsWith(".qcow2"));
    expect(disks).toHaveLength(3);
  });
  it.each([
    ["source_path", "fifo-src"],
    ["kernel", "fifo-kernel"],
  ])("%s swapped for a FIFO after the request was accepted fails the job at once (no hang), naming the field", async (field, name) => {
    const slow = await makeRawImage(path.join(src, `${name}-slow.raw`), 16, 0x34);
    await run("qemu-io", ["-f", "raw", "-c", "write -P 0x34 0 16M", slow]);
    const image = await makeRawImage(path.join(src, `${name}.raw`), 1, 0x35);
    const kernel = path.join(src, `${name}.vmlinuz`);
    await fs.writeFile(kernel, "not really a kernel");
    const named = field === "kernel" ? kernel : image;
    const holder = await t.client.templates.import({ name: `${name}-holder`, datastore_id: dsId, source_path: slow });
    const victim = await t.client.templates.import({ name, datastore_id: dsId, source_path: image, ...(field === "kernel" ? { kernel } : {}) });
    expect((await t.client.jobs.get(victim.id)).state).toBe("queued");
    await fs.rm(named);
    await run("mkfifo", [named]);

    await t.client.waitJob(holder.id);
    const started = Date.now();
    const err = await t.client.waitJob(victim.id, { timeoutMs: 20_000 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(JobFailedError);
    expect([(err as JobFailedError).code, (err as JobFailedError).field]).toEqual(["CF_INVALID_FIELD", field]);
    expect((err as JobFailedError).message).toContain("is a FIFO");
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await t.client.templates.list()).map((x) => x.name)).not.toContain(name);
    expect((await filesUnder(path.join(dsPath, "clonefleet", "tmp"))).filter((f) => f.endsWith(".part"))).toEqual([]);
    await fs.rm(named);
  });
});
