import type { Logger } from "pino";
import type { JobRunner } from "../jobs";
import type { Store } from "../store";

/** What routes may reach: the inventory, the job runner and the engine's facts. */
export interface EngineServices {
  store: Store;
  runner: JobRunner;
  log: Logger;
  version: string;
  startedAt: string;
  authMode: "token" | "none";
}
