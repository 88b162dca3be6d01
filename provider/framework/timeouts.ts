/**
 * The `timeouts` block users set on resources with long jobs (`create = "20m"`), in Go's
 * duration syntax as every Terraform provider reads it.
 */

/** The operations a timeouts block can name. */
export type TimeoutOperation = "create" | "read" | "update" | "delete";

/** A resource's timeouts block: which operations it covers and their defaults. */
export interface TimeoutsSpec {
  readonly defaults: Readonly<Partial<Record<TimeoutOperation, string>>>;
}

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
