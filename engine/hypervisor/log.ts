/** The logging the hypervisor layer does: a subset of pino's logger, so the engine passes its own. */
export interface HypervisorLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** A logger that drops everything; the default when the caller passes none. */
export const silentLog: HypervisorLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
};
