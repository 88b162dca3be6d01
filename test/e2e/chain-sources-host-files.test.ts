import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import type { DatastoreWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { filesUnder } from "../support/chains";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";

const run = promisify(execFile);
const MiB = 1024 * 1024;

/**
 * `disk register` and `replica create` read the chain a user names and copy its layers to
 * datastores others can read: a layer outside every datastore (also behind a symlink), an
 * external data file or a backing file named by protocol must be refused.
 */
describe("chains named for register and replicate stay inside datastores", () => {
  let t: TestEngine;
  let src: DatastoreWire;
  let target: DatastoreWire;
  let secretDir: string;
  let secret: string;
  let secretQcow2: string;

  const snapshot = async () => ({
    files: [...await filesUnder(src.path), ...await filesUnder(target.path)],
    catalogs: await Promise.all([src, target].map((d) => fs.readFile(path.join(d.path, "clonefleet", "catalog.json"), "utf8"))),
    replicas: (await t.engine.store.replicas.list()).length,
  });

  beforeAll(async () => {
    t = await startTestEngine();
    src = await t.client.datastores.create({ name: "src", path: path.join(t.dir, "src") });
    target = await t.client.datastores.create({ name: "target", path: path.join(t.dir, "target") });
    secretDir = path.join(t.dir, "secret");
    await fs.mkdir(secretDir, { mode: 0o700 });
    secret = await makeRawImage(path.join(secretDir, "key.raw"), 1, 0x5e);
    secretQcow2 = path.join(secretDir, "key.qcow2");
    await run("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", secret, secretQcow2]);
    await fs.mkdir(path.join(src.path, "disks"));
  });
  afterAll(() => t.stop());

  /** A 1 MiB qcow2 in the source datastore whose external data file is the secret (made on scratch, then pointed at it). */
  const dataFileQcow2 = async (name: string) => {
    const file = path.join(src.path, "disks", name);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", "-o", `data_file=${path.join(t.dir, `${name}.scratch`)},data_file_raw=on`, file, "1M"]);
    await run("qemu-img", ["amend", "-o", `data_file=${secret}`, file]);
    return file;
  };

  it.each<[string, () => Promise<string>, string]>([
    ["a qcow2 whose external data file is outside the datastores", () => dataFileQcow2("df.qcow2"), "external data file"],
    [
      "a symlink in the datastore to a qcow2 outside",
      async () => {
        const link = path.join(src.path, "disks", "link.qcow2");
        await fs.symlink(secretQcow2, link);
        return link;
      },
      "/secret/key.qcow2, which is not inside any datastore",
    ],
    [
      "a qcow2 whose backing file is outside",
      async () => {
        const file = path.join(src.path, "disks", "backed.qcow2");
        await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", secret, "-F", "raw", file, "1M"]);
        return file;
      },
      "not inside any datastore",
    ],
    [
      "a qcow2 whose backing file is a json: name",
      async () => {
        const file = path.join(src.path, "disks", "json.qcow2");
        const backing = `json:${JSON.stringify({ driver: "raw", file: { driver: "file", filename: secret } })}`;
        await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", file, "1M"]);
        return file;
      },
      "by a protocol",
    ],
  ])("register refuses %s with 400 naming path; no catalog entry", async (_label, make, words) => {
    const file = await make();
    const before = await snapshot();
    const err = await apiError(t.client.disks.register(file));
    expect([err.status, err.code, err.field]).toEqual([400, "CF_INVALID_FIELD", "path"]);
    expect(err.message).toContain(file);
    expect(err.message).toContain(words);
    expect(await snapshot()).toEqual(before);
  });

  it.each<[string, (file: string) => Promise<void>, string]>([
    [
      "becomes a symlink to a qcow2 outside the datastores",
      async (file) => {
        await fs.rm(file);
        await fs.symlink(secretQcow2, file);
      },
      "not inside any datastore",
    ],
    [
      "becomes a qcow2 whose external data file is outside",
      async (file) => {
        const df = await dataFileQcow2(`df-${path.basename(file)}`);
        await fs.rename(df, file);
      },
      "external data file",
    ],
  ])("replicate refuses a registered disk that %s, with 400 naming source_disk_path; nothing copied", async (_label, swap, words) => {
    // Registered while standalone, with the virtual size the swapped-in file has: the catalog still vouches for it.
    const file = path.join(src.path, "disks", `reg-${Math.random().toString(16).slice(2)}.qcow2`);
    await run("qemu-img", ["create", "-q", "-f", "qcow2", file, String(MiB)]);
    await t.client.disks.register(file);
    await swap(file);
    const before = await snapshot();
    const err = await apiError(t.client.replicas.create({ source_disk_path: file, target_datastore_id: target.id }));
    expect([err.status, err.code, err.field]).toEqual([400, "CF_INVALID_FIELD", "source_disk_path"]);
    expect(err.message).toContain(file);
    expect(err.message).toContain(words);
    expect(await snapshot()).toEqual(before);
  });

  it("a standalone disk in the datastore still registers and replicates", async () => {
    const file = path.join(src.path, "disks", "plain.qcow2");
    await run("qemu-img", ["create", "-q", "-f", "qcow2", file, "4M"]);
    expect((await t.client.disks.register(file)).registered).toEqual([file]);
    const job = await t.client.replicas.create({ source_disk_path: file, target_datastore_id: target.id, verify: true });
    await t.client.waitJob(job.id);
  });
});
