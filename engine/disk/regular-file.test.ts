import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { copyRegularFile, NotARegularFileError, requireRegularFile } from "./regular-file";
import { convert } from "./qemu-img";

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-regular-"));
  await run("mkfifo", [path.join(dir, "fifo")]);
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

test("a FIFO without a writer, a device and a folder are refused at once, naming what they are", async () => {
  await expect(requireRegularFile(path.join(dir, "fifo"))).rejects.toThrow(new NotARegularFileError(path.join(dir, "fifo"), "a FIFO"));
  await expect(requireRegularFile("/dev/null")).rejects.toThrow("is a device");
  await expect(requireRegularFile(dir)).rejects.toThrow("is a directory");
  await expect(requireRegularFile(path.join(dir, "absent"))).rejects.toMatchObject({ code: "ENOENT" });
});

test("a regular file is copied whole through the checked handle, mode 0640, never over an existing file", async () => {
  const src = path.join(dir, "src.bin");
  const data = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
  await fs.writeFile(src, data);
  const dst = path.join(dir, "dst.bin");
  await copyRegularFile(src, dst);
  expect((await fs.readFile(dst)).equals(data)).toBe(true);
  expect((await fs.stat(dst)).mode & 0o777).toBe(0o640);
  await expect(copyRegularFile(src, dst)).rejects.toMatchObject({ code: "EEXIST" });
  await expect(copyRegularFile(path.join(dir, "fifo"), path.join(dir, "never"))).rejects.toBeInstanceOf(NotARegularFileError);
  await expect(fs.stat(path.join(dir, "never"))).rejects.toMatchObject({ code: "ENOENT" });
});

test("qemu-img reading a FIFO that never delivers is stopped after the stall timeout", async () => {
  const started = Date.now();
  await expect(convert(path.join(dir, "fifo"), path.join(dir, "out.qcow2"), { srcFormat: "raw", dstFormat: "qcow2", stallTimeoutMs: 1000 })).rejects.toThrow(/read and wrote nothing for 1 s/);
  expect(Date.now() - started).toBeLessThan(10_000);
});
