import { ClonefleetClient, type StreamEvent } from "../../engine/client";

/**
 * Reads `GET /events` with the token in the Authorization header (as the console does; never in
 * the URL), collecting events until `close()`; `status` is 200, or the status it was refused with.
 */
export async function openEventStream(url: string, token: string | null): Promise<{ events: StreamEvent[]; status: number; close(): Promise<void> }> {
  const events: StreamEvent[] = [];
  const abort = new AbortController();
  let reader;
  try {
    reader = await new ClonefleetClient({ endpoint: url, token }).openEvents(abort.signal);
  } catch (err) {
    return { events, status: (err as { status?: number }).status ?? 0, close: async () => undefined };
  }
  if (!reader) throw new Error(`${url} has no /events`);
  const open = reader;
  const reading = (async () => {
    for (let e = await open.next(); e; e = await open.next()) events.push(e);
  })().catch((err: Error) => {
    if (err.name !== "AbortError") throw err;
  });
  return {
    events,
    status: 200,
    close: async () => {
      abort.abort();
      await open.close();
      await reading;
    },
  };
}
