import type { ClonefleetClient, JobWire } from "../../engine/client";
import { spawnEngine, type EngineProcess } from "./engine-process";

/** Waits until the engine's newest job of `kind` parks at the fault hold `step`; answers the job. */
export async function heldJob(client: ClonefleetClient, kind: string, step: string): Promise<JobWire> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const job = (await client.jobs.list()).find((j) => j.kind === kind);
    if (job?.progress.message === `fault hold: ${step}`) return job;
    if (job && ["succeeded", "failed", "cancelled"].includes(job.state)) throw new Error(`the ${kind} job ended (${job.state}) before the fault hold ${step}`);
    if (Date.now() > deadline) throw new Error(`the ${kind} job never reached ${step}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Stops `engine`, starts one on the same state folder whose jobs park at `step` (the fault-hold
 * variable `variable`), submits `call`, SIGKILLs the engine once the job of `kind` parks there,
 * and starts a plain engine, which recovers the job. Answers that engine and the job as recovery left it.
 */
export async function killAtHold(
  engine: EngineProcess,
  stateDir: string,
  args: string[],
  hold: { variable: string; step: string; kind: string },
  call: (c: ClonefleetClient) => Promise<unknown>,
): Promise<{ engine: EngineProcess; job: JobWire }> {
  await engine.stop();
  const held = await spawnEngine(stateDir, args, { [hold.variable]: hold.step });
  // The request waits for its job, which never ends here; the kill cuts it.
  const pending = call(held.client).catch(() => undefined);
  try {
    const job = await heldJob(held.client, hold.kind, hold.step);
    await held.kill();
    await pending;
    const plain = await spawnEngine(stateDir, args);
    return { engine: plain, job: await plain.client.jobs.get(job.id) };
  } finally {
    await held.kill();
  }
}
