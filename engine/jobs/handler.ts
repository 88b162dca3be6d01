import type { Inventory } from "../store";
import type { OpContext } from "../ops/context";

/** What recovery did with a job that was running when the engine stopped. */
export type RecoveryOutcome =
  | { outcome: "finished"; result: unknown; targetId?: string }
  | { outcome: "rolled-back"; detail: string };

/**
 * One kind of long work. `admit` runs inside the transaction that records the
 * job, so checks for conflicting work (a name another queued job will take) cannot race.
 * `run` does the work; on failure or cancellation it must leave nothing half-made.
 * `recover` is called at start for a job found `running`: with the intent it recorded, it
 * either finishes the work or removes every trace of it.
 */
export interface JobHandler<Req = unknown, Res = unknown> {
  kind: string;
  /** Short work a caller waits for (power a VM on or off, delete one): starts at once, outside the runner's concurrency limit. */
  immediate?: boolean;
  admit?(store: Inventory, req: Req): Promise<void> | void;
  /** The host whose agent must run the job (the host of the VM it works on); the submitting host's when absent or null. */
  hostFor?(store: Inventory, req: Req): Promise<string | null> | string | null;
  run(ctx: OpContext, req: Req): Promise<{ result: Res; targetId?: string }>;
  recover(ctx: OpContext, req: Req, intent: unknown): Promise<RecoveryOutcome>;
}
