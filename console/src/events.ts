import { EventReader } from "../../engine/client/event-reader";
import type { Api } from "./api";
import type { JobWire } from "./wire";

export type EngineEvent = { type: "job"; action: string; job: JobWire } | { type: "record"; action: string; kind: string; id: string };

/**
 * Follows `GET /events` with fetch() streaming, since EventSource cannot send the Authorization
 * header; reconnects after a drop until `signal` aborts.
 */
export async function followEvents(api: Api, onEvent: (e: EngineEvent) => void, onStatus: (live: boolean) => void, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await fetch("/events", { headers: api.headers(), signal, cache: "no-store", credentials: "omit" });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      onStatus(true);
      const reader = new EventReader(res.body);
      for (let e = await reader.next(); e; e = await reader.next()) onEvent(e.data as EngineEvent);
    } catch {
      // Dropped or refused: say so and try again shortly.
    }
    onStatus(false);
    if (!signal.aborted) await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Hands each event of the feed to the views subscribed now. */
export class EventHub {
  private readonly listeners = new Set<(e: EngineEvent) => void>();

  subscribe = (listener: (e: EngineEvent) => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  emit = (e: EngineEvent): void => {
    for (const l of this.listeners) l(e);
  };
}
