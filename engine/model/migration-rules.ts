/**
 * Pure input rules of a VM's migration policy (S6), shared by the faces that check early; the
 * engine enforces the same bounds (ops/migrate.ts). Each check returns a problem sentence or null.
 */
import { intRangeProblem } from "./rules";

/** Seconds a guest may get to acknowledge a migration notice; 0 migrates without notice. */
export const MIGRATION_NOTIFY_TIMEOUT_RANGE = { min: 0, max: 3600 } as const;

/** What a migration does when the guest has not acknowledged by the deadline. */
export const MIGRATION_ON_MISSING_ACK_VALUES = ["abort", "proceed"] as const;

/** The engine's defaults for a VM whose policy was never set. */
export const DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS = 0;
export const DEFAULT_MIGRATION_ON_MISSING_ACK = "proceed";

/** A notice timeout must be a whole number of seconds within the range. */
export function notifyTimeoutProblem(value: unknown): string | null {
  return intRangeProblem(value, MIGRATION_NOTIFY_TIMEOUT_RANGE);
}

/** The policy on a missing acknowledgement is abort or proceed. */
export function missingAckProblem(value: unknown): string | null {
  if (typeof value === "string" && (MIGRATION_ON_MISSING_ACK_VALUES as readonly string[]).includes(value)) return null;
  return `must be one of ${MIGRATION_ON_MISSING_ACK_VALUES.join(", ")} (got ${JSON.stringify(value)})`;
}
