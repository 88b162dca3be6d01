import type { ClonefleetClient, JobWire } from "../../engine/client";

/** Polls `fn` until it answers something truthy, failing with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The job once it has ended (succeeded, failed or cancelled), read through `client`. */
export function jobEnded(client: ClonefleetClient, job: JobWire, timeoutMs: number): Promise<JobWire> {
  return waitFor(`job ${job.id}`, async () => {
    const j = await client.jobs.get(job.id);
    return j.state === "succeeded" || j.state === "failed" || j.state === "cancelled" ? j : null;
  }, timeoutMs);
}
