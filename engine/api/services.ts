import type { Logger } from "pino";
import type { JobRunner } from "../jobs";
import type { Inventory } from "../store";
import type { EngineSettings, PoolRefill, WarmChildren } from "../ops";
import type { EngineMetrics } from "../metrics";
import type { EngineEvents } from "./event-stream";

/** What routes may reach: the inventory, the job runner and the engine's facts. */
export interface EngineServices {
  store: Inventory;
  runner: JobRunner;
  log: Logger;
  /** Engine-wide settings for ops run outside a job (VM power). */
  settings?: EngineSettings;
  version: string;
  startedAt: string;
  authMode: "token" | "none";
  /** The background pool refill (fill progress, nudges); absent when pools are not refilled. */
  refill?: PoolRefill;
  /** This host's pre-started instant-clone children; absent when it keeps none. */
  warm?: WarmChildren;
  /** The host this engine is (S6); `local` when absent. */
  hostId?: string;
  /** Time without a heartbeat after which a host counts as down. */
  hostDownAfterMs?: number;
  /** The change feed behind `GET /events`; absent: no such route. */
  events?: EngineEvents;
  /** The Prometheus metrics behind `GET /metrics`; absent: no such route. */
  metrics?: EngineMetrics;
}
