import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pino from "pino";
import { invalidField } from "../errors";
import { openInventory, type Inventory } from "../store";
import type { JobHandler } from "./handler";
import { recoverAtStart } from "./recover";
import { JOB_LEASE_MS, JobRunner } from "./runner";

/** A job kind for exercising the runner: counts to `steps`, waiting `delayMs` per step. */
const countHandler: JobHandler<{ steps: number; delayMs: number; fail?: boolean; abortAsPlainError?: boolean }, { counted: number }> = {
  kind: "test.count",
  admit: (_s, req) => {
    if (req.steps < 0) throw invalidField("steps", "must not be negative");
  },
  run: async (ctx, req) => {
    await ctx.recordIntent({ planned: req.steps });
    for (let i = 0; i < req.steps; i++) {
      // An op's lower layers (QMP, child processes) often fail with their own plain error when aborted.
      if (ctx.signal.aborted) throw req.abortAsPlainError ? new Error("QMP socket closed") : ctx.signal.reason;
      await new Promise((r) => setTimeout(r, req.delayMs));
      ctx.progress({ unit: "steps", done: i + 1, total: req.steps });
    }
    if (req.fail) throw invalidField("fail", "asked to fail");
    return { result: { counted: req.steps } };
  },
  recover: async () => ({ outcome: "rolled-back", detail: "test" }),
};

describe("JobRunner", () => {
  let dir: string;
  let store: Inventory;
  let runner: JobRunner;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-runner-"));
    store = await openInventory(path.join(dir, "inv.sqlite"));
    runner = new JobRunner(store, pino({ level: "silent" }), [countHandler as JobHandler], 1);
    runner.start();
  });
  afterEach(async () => {
    await runner.close();
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("moves a job queued → running → succeeded with its result, intent and full progress", async () => {
    const { job } = await runner.submit("test.count", { steps: 3, delayMs: 5 });
    expect(job.state).toBe("queued");
    const done = await runner.wait(job.id, 5000);
    expect(done).toMatchObject({ state: "succeeded", result: { counted: 3 }, intent: { planned: 3 }, progress: { done: 3, total: 3 } });
    expect(done.startedAt).not.toBeNull();
    expect(done.finishedAt).not.toBeNull();
  });

  it("records a failure with the op's error", async () => {
    const { job } = await runner.submit("test.count", { steps: 1, delayMs: 1, fail: true });
    const done = await runner.wait(job.id, 5000);
    expect(done.state).toBe("failed");
    expect(done.error).toEqual({ code: "CF_INVALID_FIELD", message: "fail: asked to fail", field: "fail" });
  });

  it("returns the same job for a repeated idempotency key and refuses it for another request", async () => {
    const a = await runner.submit("test.count", { steps: 1, delayMs: 1 }, { idempotencyKey: "k" });
    const b = await runner.submit("test.count", { steps: 1, delayMs: 1 }, { idempotencyKey: "k" });
    expect([a.created, b.created, b.job.id]).toEqual([true, false, a.job.id]);
    await expect(runner.submit("test.count", { steps: 2, delayMs: 1 }, { idempotencyKey: "k" })).rejects.toThrow(/already used/);
  });

  it("refuses at admission and records nothing", async () => {
    await expect(runner.submit("test.count", { steps: -1, delayMs: 1 })).rejects.toThrow("steps: must not be negative");
    expect(await store.jobs.list()).toHaveLength(0);
  });

  it("cancels a queued job at once and a running one cooperatively", async () => {
    const running = (await runner.submit("test.count", { steps: 200, delayMs: 5 })).job;
    const queued = (await runner.submit("test.count", { steps: 1, delayMs: 1 })).job;
    expect((await runner.cancel(queued.id)).state).toBe("cancelled");
    await new Promise((r) => setTimeout(r, 30));
    await runner.cancel(running.id);
    const done = await runner.wait(running.id, 5000);
    expect(done.state).toBe("cancelled");
    expect(done.error?.code).toBe("CF_CANCELLED");
    expect(done.progress.done).toBeLessThan(200);
  });

  it("records a cancelled job as CF_CANCELLED even when its op fails with another error on the way out", async () => {
    const { job } = await runner.submit("test.count", { steps: 200, delayMs: 5, abortAsPlainError: true });
    await new Promise((r) => setTimeout(r, 30));
    await runner.cancel(job.id);
    const done = await runner.wait(job.id, 5000);
    expect(done.state).toBe("cancelled");
    expect(done.error).toEqual({ code: "CF_CANCELLED", message: "cancelled on request" });
  });

  it("answers a wait with the current state when the timeout passes first", async () => {
    const { job } = await runner.submit("test.count", { steps: 100, delayMs: 10 });
    const now = await runner.wait(job.id, 30);
    expect(["queued", "running"]).toContain(now.state);
    await runner.cancel(job.id);
    await runner.wait(job.id, 5000);
  });

  it("runs queued jobs left by a previous process once started", async () => {
    await runner.close();
    const paused = new JobRunner(store, pino({ level: "silent" }), [countHandler as JobHandler], 1);
    const { job } = await paused.submit("test.count", { steps: 1, delayMs: 1 });
    await paused.close();
    expect((await store.jobs.get(job.id))?.state).toBe("queued");
    runner = new JobRunner(store, pino({ level: "silent" }), [countHandler as JobHandler], 1);
    runner.start();
    expect((await runner.wait(job.id, 5000)).state).toBe("succeeded");
  });

  it("runs a job under its own lease, renewed while it runs and released when it ends", async () => {
    const { job } = await runner.submit("test.count", { steps: 40, delayMs: 5 });
    let lease = await store.jobs.lease(job.id);
    for (let i = 0; i < 200 && !lease; i++) {
      await new Promise((r) => setTimeout(r, 5));
      lease = await store.jobs.lease(job.id);
    }
    expect(lease?.owner).toBe(runner.owner);
    expect(runner.owner).toMatch(new RegExp(`^local:${process.pid}:[0-9a-f]{8}$`));
    expect(Date.parse(lease!.expiresAt) - Date.now()).toBeGreaterThan(JOB_LEASE_MS / 2);
    expect((await runner.wait(job.id, 5000)).state).toBe("succeeded");
    expect(await store.jobs.lease(job.id)).toBeNull();
  });

  it("at start, recovers a running job whose engine is gone but leaves one leased by a live engine of the host", async () => {
    await runner.close();
    const log = pino({ level: "silent" });
    const paused = new JobRunner(store, log, [countHandler as JobHandler], 1);
    const orphan = (await paused.submit("test.count", { steps: 1, delayMs: 1 })).job;
    const held = (await paused.submit("test.count", { steps: 1, delayMs: 1 })).job;
    // A dead engine's lease (no such process), and a live one's (this very process, another runner).
    expect(await store.jobs.start(orphan.id, "local:999999999:deadbeef", JOB_LEASE_MS)).toBe(true);
    expect(await store.jobs.start(held.id, `local:${process.pid}:0ther000`, JOB_LEASE_MS)).toBe(true);
    runner = new JobRunner(store, log, [countHandler as JobHandler], 1);
    const report = await recoverAtStart(store, runner, log);
    expect(report.rolledBackJobs).toEqual([orphan.id]);
    expect((await store.jobs.get(orphan.id))?.state).toBe("failed");
    expect((await store.jobs.get(held.id))?.state).toBe("running");
    await paused.close();
  });
});
