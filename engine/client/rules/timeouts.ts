/**
 * How long each face waits for a resource's jobs, and the duration syntax users write it in
 * (Go's, as every Terraform provider reads `timeouts` blocks: "20m", "1h30m", "90s").
 */
import { knownValue, type Face, type RuleProblem } from "./reading";

/** The operations a timeout can cover. */
export type TimeoutOperation = "create" | "read" | "update" | "delete";

/** The default time limits of each resource's long operations; both faces use them. */
export const OPERATION_TIMEOUTS = {
  template: { create: "30m", delete: "10m" },
  replica: { create: "30m", update: "30m", delete: "10m" },
  disk_pool: { create: "30m", update: "30m", delete: "10m" },
  vm: { create: "30m", update: "10m", delete: "10m" },
  fleet: { create: "30m", update: "30m", delete: "10m" },
  snapshot: { create: "10m", delete: "30m" },
  instant_clone_parent: { create: "10m", delete: "10m" },
} as const satisfies Record<string, Partial<Record<TimeoutOperation, string>>>;

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, "μs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration such as "20m", "1h30m" or "90s" to milliseconds; returns undefined when invalid or negative. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === "0") return 0;
  if (!/^\+?(\d+(\.\d*)?|\.\d+)[a-zµμ]+/.test(s)) return undefined;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let pos = s.startsWith("+") ? 1 : 0;
  let total = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return undefined;
    total += parseFloat(m[1]) * UNIT_MS[m[2]];
    pos = re.lastIndex;
  }
  return total;
}

/** A time limit as a user may give it: a duration such as "20m", or a number of seconds. */
export function timeoutMs(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  return typeof value === "string" ? parseDuration(value) : undefined;
}

/**
 * Problems of a `timeouts` value (an object from operation to a time limit) for a resource
 * whose long operations are `operations`: unknown operations and values that are no duration.
 */
export function timeoutsProblems(value: unknown, face: Face, operations: readonly string[]): RuleProblem[] {
  const attr = face.attr("timeouts");
  if (!knownValue(face, value)) return [];
  if (typeof value !== "object" || Array.isArray(value)) {
    return [{ attribute: attr, summary: `Invalid ${attr}`, reason: `must be an object such as { create: "20m" } naming ${operations.join(", ")}` }];
  }
  const problems: RuleProblem[] = [];
  for (const [op, v] of Object.entries(value as Record<string, unknown>)) {
    if (!operations.includes(op)) problems.push({ attribute: `${attr}.${op}`, summary: `Invalid ${attr}`, reason: `is not a long operation of this resource (it has ${operations.join(", ")})` });
    else if (knownValue(face, v) && timeoutMs(v) === undefined) {
      problems.push({ attribute: `${attr}.${op}`, summary: "Invalid duration", reason: `must be a duration such as "30s", "20m" or "1h30m", or a number of seconds (got ${JSON.stringify(v)})` });
    }
  }
  return problems;
}
