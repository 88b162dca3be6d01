/**
 * Logging for a plugin process: JSON lines on stderr in go-hclog's shape, which Terraform's
 * plugin client parses and re-logs at the given level. Never pass secrets as fields.
 */

/** Log levels from most to least verbose, as TF_LOG names them. */
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

/** A structured logger. */
export interface Logger {
  trace(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Reads the level from TF_LOG_PROVIDER, then TF_LOG (JSON means trace); warnings and errors otherwise. */
export function levelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const raw = (env.TF_LOG_PROVIDER || env.TF_LOG || "").trim().toLowerCase();
  if (raw === "json") return "trace";
  return raw in ORDER ? (raw as LogLevel) : "warn";
}

function timestamp(d: Date): string {
  // go-plugin parses "2006-01-02T15:04:05.000000Z07:00": six fractional digits.
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** Makes a logger writing hclog JSON lines for `module` to `write` (stderr by default). */
export function createLogger(
  module: string,
  level: LogLevel = levelFromEnv(),
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const emit = (lvl: LogLevel) => (message: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[lvl] < ORDER[level]) return;
    const entry = { "@level": lvl, "@message": message, "@module": module, "@timestamp": timestamp(new Date()), ...fields };
    write(JSON.stringify(entry) + "\n");
  };
  return { trace: emit("trace"), debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}
