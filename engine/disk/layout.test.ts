import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { engineDir, ensureLayout, isInside, templateDir, templateDiskPath, tmpDir } from "./layout";

test("paths of the engine's folders", () => {
  expect(engineDir("/ds")).toBe("/ds/clonefleet");
  expect(engineDir("/ds/")).toBe("/ds/clonefleet");
  expect(tmpDir("/ds")).toBe("/ds/clonefleet/tmp");
  expect(templateDir("/ds", "t-1")).toBe("/ds/clonefleet/templates/t-1");
  expect(templateDiskPath("/ds", "t-1")).toBe("/ds/clonefleet/templates/t-1/disk.qcow2");
});

test("template ids that are not one path segment are refused", () => {
  for (const bad of ["", ".", "..", "a/b", "../x", "a\\b", "a\0b"]) {
    expect(() => templateDir("/ds", bad)).toThrow(/invalid template id/);
  }
});

test("isInside checks containment without escapes", () => {
  expect(isInside("/ds", "/ds/a")).toBe(true);
  expect(isInside("/ds", "/ds/a/b/../c")).toBe(true);
  expect(isInside("/ds/", "/ds/..foo")).toBe(true);
  expect(isInside("/ds", "/ds")).toBe(false);
  expect(isInside("/ds", "/ds/")).toBe(false);
  expect(isInside("/ds", "/ds/a/../..")).toBe(false);
  expect(isInside("/ds", "/ds/../etc/passwd")).toBe(false);
  expect(isInside("/ds", "/dsx/a")).toBe(false);
  expect(isInside("/ds", "/")).toBe(false);
});

describe("ensureLayout", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), "cf-layout-"));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test("creates the engine and tmp folders, twice without harm", async () => {
    await ensureLayout(dir);
    await ensureLayout(dir);
    expect((await fsp.stat(engineDir(dir))).isDirectory()).toBe(true);
    expect((await fsp.stat(tmpDir(dir))).isDirectory()).toBe(true);
  });

  test("refuses a root that does not exist or is a file", async () => {
    await expect(ensureLayout(path.join(dir, "unmounted"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(fsp.stat(path.join(dir, "unmounted"))).rejects.toMatchObject({ code: "ENOENT" });
    await fsp.writeFile(path.join(dir, "file"), "x");
    await expect(ensureLayout(path.join(dir, "file"))).rejects.toThrow(/not a directory/);
  });
});
