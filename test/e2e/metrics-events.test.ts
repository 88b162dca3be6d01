import * as path from "node:path";
import axios from "axios";
import type { FleetApplyWire, JobWire, VmWire } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import { openEventStream } from "../support/event-stream";
import { parsePrometheusText, sampleSum, type Sample } from "../support/prometheus-text";
import { killAllVms, vmFixture } from "../support/vms";
import { eventually } from "../support/clones";
import { cliRunner } from "../support/cli";

// Real QEMU (TCG here): a fleet of two running firmware-only VMs and a fork of one of them.
jest.setTimeout(240_000);

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

const http = (token: string | null) => axios.create({ baseURL: t.engine.url, validateStatus: () => true, proxy: false, headers: token ? { authorization: `Bearer ${token}` } : {} });
const scrape = async (token = t.engine.token): Promise<Sample[]> => {
  const res = await http(token).get("/metrics", { responseType: "text" });
  expect(res.status).toBe(200);
  expect(res.headers["content-type"]).toContain("text/plain");
  return parsePrometheusText(res.data as string);
};

test("a fleet apply and a fork move the job, clone and stun metrics by exactly what was done, and /events streams the fork to done", async () => {
  const pool = await t.client.pools.create({ template_id: fx.templateId, datastore_id: fx.datastoreId, size: 2 });
  await t.client.waitPoolReady(pool.id, { timeoutMs: 60_000 });
  const before = await scrape();
  const stream = await openEventStream(t.engine.url, t.engine.token);
  try {
    const applyJob = await t.client.fleets.create({ template_id: fx.templateId, size: 2, datastore_ids: [fx.datastoreId], name_prefix: "web", clone_mode: "pool", power_state: "running" });
    const applied = (await t.client.waitJob(applyJob.id, { timeoutMs: 120_000 })).result as FleetApplyWire;
    expect(applied.added).toHaveLength(2);
    const members = await t.client.vms.list({ fleetId: applied.fleet.id });
    const forkJob = await t.client.vms.fork(members[0].id, { name: "web-fork" });
    const child = (await t.client.waitJob(forkJob.id, { timeoutMs: 120_000 })).result as VmWire;

    // The stream saw the fork job go from queued to succeeded, live, and the child VM appear.
    const forkStates = await eventually(
      async () => {
        const states = stream.events.filter((e) => e.event === "job" && (e.data as { job: JobWire }).job.id === forkJob.id).map((e) => (e.data as { job: JobWire }).job.state);
        return states.includes("succeeded") ? states : null;
      },
      10_000,
      "the fork job's succeeded event",
    );
    expect(forkStates[0]).toBe("queued");
    expect(forkStates).toContain("running");
    expect(forkStates[forkStates.length - 1]).toBe("succeeded");
    expect(stream.events).toContainEqual({ event: "record", data: { type: "record", action: "created", kind: "vm", id: child.id } });
    for (const m of members) expect(stream.events).toContainEqual({ event: "record", data: { type: "record", action: "created", kind: "vm", id: m.id } });

    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) => sampleSum(after, name, labels) - sampleSum(before, name, labels);
    expect(moved("clonefleet_jobs_total", { kind: "fleet.apply", outcome: "succeeded" })).toBe(1);
    expect(moved("clonefleet_jobs_total", { kind: "vm.fork", outcome: "succeeded" })).toBe(1);
    expect(moved("clonefleet_jobs_total")).toBe(2);
    expect(moved("clonefleet_job_duration_seconds_count", { kind: "fleet.apply" })).toBe(1);
    expect(moved("clonefleet_job_duration_seconds_count", { kind: "vm.fork" })).toBe(1);
    // Each member counted under the provisioning the apply reported.
    for (const by of new Set(applied.added.map((a) => a.provisioned_by))) {
      expect({ by, moved: moved("clonefleet_clones_total", { provisioned_by: by }) }).toEqual({ by, moved: applied.added.filter((a) => a.provisioned_by === by).length });
    }
    expect(moved("clonefleet_clones_total", { provisioned_by: "fork" })).toBe(1);
    expect(moved("clonefleet_clones_total")).toBe(3);
    expect(moved("clonefleet_fork_stun_seconds_count")).toBe(1);
    expect(moved("clonefleet_fork_stun_seconds_sum")).toBeCloseTo(child.stun_ms! / 1000, 6);
    expect(moved("clonefleet_migration_downtime_seconds_count")).toBe(0);
    // Two members and the child run a QEMU each.
    expect(sampleSum(after, "clonefleet_qemu_processes", { role: "vm" })).toBe(3);
    const tpl = (await t.client.templates.get(fx.templateId))!;
    const ds = (await t.client.datastores.get(fx.datastoreId))!;
    expect(sampleSum(after, "clonefleet_pool_size", { template: tpl.name, datastore: ds.name })).toBe(2);
    // Request latency by route pattern: the fork's URL held a VM id, its label does not.
    expect(sampleSum(after, "clonefleet_http_request_duration_seconds_count", { method: "POST", route: "/vms/:id/fork", status_class: "2xx" })).toBe(1);
    expect(after.filter((s) => Object.values(s.labels).some((v) => /\b(vm|job)-[0-9a-f]{16}\b/.test(v)))).toEqual([]);
    expect(sampleSum(after, "clonefleet_inventory_query_duration_seconds_count", { operation: "vms.insert" })).toBeGreaterThanOrEqual(3);
  } finally {
    await stream.close();
  }
});

test("a read-only token scrapes /metrics and reads /events; no token gets 401", async () => {
  const ro = await t.client.tokens.create({ name: "scraper", scope: "read-only" });
  expect(sampleSum(await scrape(ro.token), "clonefleet_pool_size")).toBe(2);
  const stream = await openEventStream(t.engine.url, ro.token);
  expect(stream.status).toBe(200);
  await t.client.pools.resize((await t.client.pools.list())[0].id, 1);
  await eventually(async () => stream.events.some((e) => e.event === "record" && (e.data as { kind: string }).kind === "pool"), 10_000, "a pool record event");
  await stream.close();
  expect((await http(null).get("/metrics")).status).toBe(401);
  const anonymous = await openEventStream(t.engine.url, null);
  expect(anonymous.status).toBe(401);
});

test("clonefleet job wait follows the event stream to the job's end; the client's live wait reports each change it saw", async () => {
  const { cli } = cliRunner(() => ({ endpoint: t.engine.url, stateDir: t.stateDir }));
  const running = (await t.client.vms.list()).find((v) => v.power_state === "running")!;
  const forkJob = await t.client.vms.fork(running.id, { name: "wait-fork" });
  const waited = await cli(["--state-dir", t.stateDir, "--json", "job", "wait", forkJob.id]);
  expect(waited.code).toBe(0);
  expect(JSON.parse(waited.stdout)).toMatchObject({ id: forkJob.id, state: "succeeded" });

  const seen: string[] = [];
  const second = await t.client.vms.fork(running.id, { name: "wait-fork-2" });
  const done = await t.client.waitJobLive(second.id, { timeoutMs: 120_000, onProgress: (j) => seen.push(j.state) });
  expect(done.state).toBe("succeeded");
  expect(seen[seen.length - 1]).toBe("succeeded");
  // More than the first and last look: the stream delivered the changes in between.
  expect(seen.length).toBeGreaterThan(2);
  // A job that ends otherwise ends the wait with its error code, as the polling wait does.
  const cancelled = await t.client.vms.fork(running.id, { name: "wait-fork-3" });
  await t.client.jobs.cancel(cancelled.id);
  const thrown = await t.client.waitJobLive(cancelled.id, { timeoutMs: 60_000 }).catch((e: unknown) => e);
  const recorded = await t.client.jobs.get(cancelled.id);
  expect(recorded.state).toBe("cancelled");
  expect(thrown).toMatchObject({ name: "JobFailedError", jobId: cancelled.id, state: "cancelled", code: recorded.error!.code });
});

test("an engine that closes ends the event streams still open, instead of waiting on them", async () => {
  const other = await startTestEngine();
  const stream = await openEventStream(other.engine.url, other.engine.token);
  expect(stream.status).toBe(200);
  await other.stop();
  // The stream ended on the engine's side: close() only waits for the reader to see the end.
  await stream.close();
  await expect(fetch(`${other.engine.url}/health`)).rejects.toThrow();
});
