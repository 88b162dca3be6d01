import { promises as fs } from "node:fs";
import * as path from "node:path";
import { ApiError } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, vmFixture } from "../support/vms";

jest.setTimeout(60_000);

/** The engine runs as root: a folder it removes must lie inside its own folders, symlinks resolved. */
let t: TestEngine;
let templateId: string;
beforeAll(async () => {
  t = await startTestEngine();
  ({ templateId } = await vmFixture(t.client, t.dir));
});
afterAll(() => t.stop());

test("deleting a VM whose home folder a planted symlink leads out of the datastore removes nothing out there", async () => {
  const vm = await createVm(t.client, "linked-out", templateId);
  const vmsFolder = path.dirname(vm.home_dir);
  // Someone swaps the datastore's vms folder for a link to a folder elsewhere holding the same names.
  const elsewhere = path.join(t.dir, "elsewhere");
  await fs.rename(vmsFolder, elsewhere);
  await fs.symlink(elsewhere, vmsFolder);
  const sentinel = path.join(elsewhere, vm.id, "disk.qcow2");

  const err = await t.client.vms.delete(vm.id).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect(err).toMatchObject({ status: 500, code: "CF_INTERNAL" });
  expect((err as ApiError).message).toMatch(new RegExp(`removing ${vm.home_dir}: refusing to touch .* not inside the engine's folder`));
  expect((await fs.stat(sentinel)).isFile()).toBe(true);
});
