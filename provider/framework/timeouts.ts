/**
 * The `timeouts` block users set on resources with long jobs (`create = "20m"`), in Go's
 * duration syntax as every Terraform provider reads it.
 */

import { parseDuration, type TimeoutOperation } from "../../engine/client/rules/timeouts";

export { parseDuration, type TimeoutOperation };

/** A resource's timeouts block: which operations it covers and their defaults. */
export interface TimeoutsSpec {
  readonly defaults: Readonly<Partial<Record<TimeoutOperation, string>>>;
}

/**
 * Declares a timeouts block covering the operations named in `defaults`, each with its
 * default duration; throws when a default is not a valid duration.
 */
export function timeouts(defaults: Partial<Record<TimeoutOperation, string>>): TimeoutsSpec {
  for (const [op, d] of Object.entries(defaults)) {
    if (d === undefined || parseDuration(d) === undefined) throw new Error(`timeouts.${op}: ${JSON.stringify(d)} is not a duration`);
  }
  return { defaults: { ...defaults } };
}

/** The operations a timeouts block covers, in a stable order. */
export function timeoutOperations(spec: TimeoutsSpec): TimeoutOperation[] {
  return (["create", "read", "update", "delete"] as const).filter((op) => spec.defaults[op] !== undefined);
}
