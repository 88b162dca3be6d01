import type { OpContext } from "./context";

/**
 * Fault injection for the crash tests: when the environment variable `variable` names `step`,
 * reports `fault hold: <step>` as the job's progress and parks the work there until the job is
 * aborted (or the engine is killed, which is what the tests do). A no-op otherwise.
 */
export async function faultHold(ctx: OpContext, variable: string, step: string): Promise<void> {
  if (process.env[variable] !== step) return;
  ctx.progress({ message: `fault hold: ${step}` });
  // A job cancelled before it got here would otherwise park forever.
  if (ctx.signal.aborted) return;
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
}
