/**
 * Short changes run as jobs behind routes that answer as before: a start, stop or delete
 * answers the VM (or 204) once its job ended, with the job in `X-Clonefleet-Job`; `Prefer:
 * respond-async` answers 202 with the job; an idempotency key returns the same job; bad
 * input is refused before any job is recorded. Real QEMU (TCG), qemu-img and SQLite.
 */
import * as path from "node:path";
import type { JobWire, VmWire } from "../../engine/client";
import { apiError } from "../support/api-error";
import { startTestEngine, type TestEngine } from "../support/engine";
import { createVm, killAllVms, vmFixture } from "../support/vms";

jest.setTimeout(120_000);

let t: TestEngine;
let fx: { datastoreId: string; templateId: string };

beforeAll(async () => {
  t = await startTestEngine({ engine: { accel: "tcg" } });
  fx = await vmFixture(t.client, t.dir);
});

afterAll(async () => {
  await killAllVms(path.join(t.stateDir, "vms"));
  await t.stop();
});

async function post(urlPath: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: unknown }> {
  const res = await fetch(`${t.engine.url}${urlPath}`, {
    method: "POST",
    headers: { authorization: `Bearer ${t.engine.token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

test("start and stop answer the VM once their job ended, naming the job; Prefer: respond-async answers 202 with it", async () => {
  const vm = await createVm(t.client, "jobbed", fx.templateId);
  const started = await post(`/vms/${vm.id}/start`, {});
  expect(started.status).toBe(200);
  expect((started.json as VmWire).power_state).toBe("running");
  const startJob = await t.client.jobs.get(started.headers.get("x-clonefleet-job")!);
  expect(startJob).toMatchObject({ kind: "vm.start", state: "succeeded", target_id: vm.id });

  const key = { "idempotency-key": `stop-${vm.id}`, prefer: "respond-async" };
  const accepted = await post(`/vms/${vm.id}/stop`, { timeout_seconds: 0 }, key);
  expect(accepted.status).toBe(202);
  const job = accepted.json as JobWire;
  expect(job.kind).toBe("vm.stop");
  expect(accepted.headers.get("location")).toBe(`/jobs/${job.id}`);
  const done = await t.client.waitJob(job.id);
  expect((done.result as VmWire).power_state).toBe("stopped");
  // The same key and request: the same job, not a second stop.
  const again = await post(`/vms/${vm.id}/stop`, { timeout_seconds: 0 }, key);
  expect((again.json as JobWire).id).toBe(job.id);
  // The same key for another request is refused.
  expect((await post(`/vms/${vm.id}/stop`, { timeout_seconds: 5 }, key)).status).toBe(409);
});

test("bad input is refused before any job is recorded", async () => {
  const vm = await createVm(t.client, "refused", fx.templateId);
  const before = (await t.client.jobs.list({ limit: 1000 })).length;
  expect(await apiError(t.client.vms.start("vm-ffffffffffffffff"))).toMatchObject({ status: 404, code: "CF_NOT_FOUND", field: "id" });
  expect(await apiError(t.client.vms.start(vm.id, { accel: "hvf" as "tcg" }))).toMatchObject({ status: 400 });
  expect(await apiError(t.client.vms.stop(vm.id, { timeout_seconds: 3601 }))).toMatchObject({ status: 400, field: "timeout_seconds" });
  expect(await apiError(t.client.templates.delete("tpl-ffffffffffffffff"))).toMatchObject({ status: 404, code: "CF_NOT_FOUND" });
  expect(await apiError(t.client.fleets.delete("flt-ffffffffffffffff"))).toMatchObject({ status: 404, code: "CF_NOT_FOUND" });
  expect(await apiError(t.client.catalogs.rescan("ds-ffffffffffffffff"))).toMatchObject({ status: 404, field: "id" });
  expect(await apiError(t.client.disks.register("relative/path.qcow2"))).toMatchObject({ status: 400, field: "path" });
  expect((await t.client.jobs.list({ limit: 1000 })).length).toBe(before);
  expect((await t.client.vms.get(vm.id))!.power_state).toBe("stopped");
  expect(await t.client.templates.get(fx.templateId)).not.toBeNull();

  await t.client.vms.delete(vm.id);
  expect(await t.client.vms.get(vm.id)).toBeNull();
  const [del] = await t.client.jobs.list({ limit: 1 });
  expect(del).toMatchObject({ kind: "vm.delete", state: "succeeded", target_id: vm.id });
});

async function call(method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: unknown }> {
  const res = await fetch(`${t.engine.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${t.engine.token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

test("datastore, pool and VM-settings changes answer as before once their job ended; a retried key answers its job again", async () => {
  const added = await call("POST", "/datastores", { name: "jobbed-ds", path: path.join(t.dir, "jobbed-ds") });
  expect(added.status).toBe(201);
  const dsId = (added.json as { id: string }).id;
  expect(await t.client.jobs.get(added.headers.get("x-clonefleet-job")!)).toMatchObject({ kind: "datastore.create", state: "succeeded", target_id: dsId });

  const pool = await call("POST", "/pools", { template_id: fx.templateId, datastore_id: dsId, size: 0 });
  expect(pool.status).toBe(201);
  const poolId = (pool.json as { id: string }).id;
  const resized = await call("PUT", `/pools/${poolId}`, { size: 0 });
  expect([resized.status, (resized.json as { size: number }).size]).toEqual([200, 0]);
  expect(await t.client.jobs.get(resized.headers.get("x-clonefleet-job")!)).toMatchObject({ kind: "pool.resize", state: "succeeded" });
  // Deleted, then the same key again: the same job's answer, not a 404.
  const key = { "idempotency-key": `delete-${poolId}` };
  const deleted = await call("DELETE", `/pools/${poolId}`, undefined, key);
  const again = await call("DELETE", `/pools/${poolId}`, undefined, key);
  expect([deleted.status, again.status]).toEqual([204, 204]);
  expect(again.headers.get("x-clonefleet-job")).toBe(deleted.headers.get("x-clonefleet-job"));
  expect(await t.client.pools.get(poolId)).toBeNull();

  const vm = await createVm(t.client, "settings", fx.templateId);
  const patched = await call("PATCH", `/vms/${vm.id}`, { stop_timeout_seconds: 7 }, { prefer: "respond-async" });
  expect(patched.status).toBe(202);
  expect((patched.json as JobWire).kind).toBe("vm.update");
  await t.client.waitJob((patched.json as JobWire).id);
  expect((await t.client.vms.get(vm.id))!.stop_timeout_seconds).toBe(7);

  const removed = await call("DELETE", `/datastores/${dsId}`);
  expect(removed.status).toBe(204);
  expect(await t.client.jobs.get(removed.headers.get("x-clonefleet-job")!)).toMatchObject({ kind: "datastore.delete", state: "succeeded", target_id: dsId });
  expect(await t.client.datastores.get(dsId)).toBeNull();
});
