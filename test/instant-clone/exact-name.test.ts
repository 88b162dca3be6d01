/**
 * `POST /parents/{id}/clones` with `name`: one child with exactly that name (how the IaC faces
 * make one declared VM), and the request shapes refused naming the field, changing nothing.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { InstantCloneResultWire, ParentWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, killAllVms, vmFixture } from "../support/vms";

jest.setTimeout(120_000);

let t: TestEngine;
let parent: ParentWire;
let templateId: string;

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "tcg" } });
  const fx = await vmFixture(t.client, t.dir, 64);
  templateId = fx.templateId;
  const src = await t.client.vms.start((await createVm(t.client, "src", fx.templateId)).id);
  parent = (await t.client.waitJob((await t.client.parents.create({ source_vm_id: src.id, name: "base" })).id, { timeoutMs: 60_000 })).result as ParentWire;
});

afterAll(async () => {
  const tmpfsDir = t.engine.runner.settings.parentTmpfsDir!;
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
  await fs.rm(tmpfsDir, { recursive: true, force: true });
});

test("a single child gets exactly the name asked for", async () => {
  const job = await t.client.parents.clone(parent.id, { count: 1, name: "worker" });
  const r = (await t.client.waitJob(job.id, { timeoutMs: 60_000 })).result as InstantCloneResultWire;
  expect(r.children.map((c) => [c.name, c.instant_clone_of, c.power_state])).toEqual([["worker", parent.id, "running"]]);
  expect((await t.client.vms.list()).filter((v) => v.instant_clone_of === parent.id).map((v) => v.name)).toEqual(["worker"]);
});

test("name with a count above 1, name with name_prefix, neither, a bad or taken name: refused naming the field, nothing made", async () => {
  const before = (await t.client.vms.list()).map((v) => v.id).sort();
  let e = await apiError(t.client.parents.clone(parent.id, { count: 2, name: "two" }));
  expect([e.status, e.code, e.field]).toEqual([400, "CF_INVALID_FIELD", "name"]);
  expect(e.message).toContain("count must be 1");
  e = await apiError(t.client.parents.clone(parent.id, { count: 1, name: "x", name_prefix: "x" }));
  expect([e.status, e.field]).toEqual([400, "name"]);
  e = await apiError(t.client.parents.clone(parent.id, { count: 1 }));
  expect([e.status, e.field]).toEqual([400, "name_prefix"]);
  e = await apiError(t.client.parents.clone(parent.id, { count: 1, name: "a/b" }));
  expect([e.status, e.field]).toEqual([400, "name"]);
  await createVm(t.client, "taken", templateId);
  e = await apiError(t.client.parents.clone(parent.id, { count: 1, name: "taken" }));
  expect([e.status, e.code, e.field]).toEqual([409, "CF_CONFLICT", "name"]);
  const after = (await t.client.vms.list()).filter((v) => v.name !== "taken").map((v) => v.id).sort();
  expect(after).toEqual(before);
});
