/** Value checks several resources share; each answers a problem sentence or null. */
import type { ValueProblem } from "./reading";

/** The longest id the engine accepts in a path parameter. */
export const ID_MAX_LENGTH = 64;

export const CLONE_MODES = ["pool", "full", "linked"] as const;
export const POWER_STATES = ["running", "stopped"] as const;
export const RAM_LOCATIONS = ["tmpfs", "datastore"] as const;
export const STOP_TIMEOUT_RANGE = { min: 0, max: 3600 } as const;

/** An id of `what` (such as "a Template"): a non-empty string of at most ID_MAX_LENGTH characters. */
export function idProblem(what: string): ValueProblem {
  return (v) => {
    if (typeof v !== "string") return `must be a string (the id of ${what})`;
    if (v.length === 0) return "must not be empty";
    return v.length > ID_MAX_LENGTH ? `must be at most ${ID_MAX_LENGTH} characters` : null;
  };
}

/** One of `values`. */
export function oneOfProblem(values: readonly string[]): ValueProblem {
  return (v) => (typeof v === "string" && values.includes(v) ? null : `must be one of ${values.join(", ")} (got ${JSON.stringify(v)})`);
}

/** A boolean. */
export const boolProblem: ValueProblem = (v) => (typeof v === "boolean" ? null : "must be true or false");

/** A boolean the provider reports (true when all is well); a user may only set it true. */
export function providerReportedProblem(whileFalse: string): ValueProblem {
  return (v) => {
    if (typeof v !== "boolean") return "must be true or false";
    return v ? null : `is reported by the provider (false while ${whileFalse}); leave it unset`;
  };
}
