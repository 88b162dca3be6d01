/** One server-sent event as `GET /events` sends it. */
export interface ReceivedEvent {
  event: string;
  data: unknown;
}

/**
 * Reads `GET /events` with fetch() and the token in the Authorization header (as the console
 * does; never in the URL), collecting events until `close()`.
 */
export async function openEventStream(url: string, token: string | null): Promise<{ events: ReceivedEvent[]; status: number; close(): Promise<void> }> {
  const abort = new AbortController();
  const res = await fetch(`${url}/events`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: abort.signal });
  const events: ReceivedEvent[] = [];
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    return { events, status: res.status, close: async () => undefined };
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const reading = (async () => {
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
    }
  })().catch((err: Error) => {
    if (err.name !== "AbortError") throw err;
  });
  return {
    events,
    status: res.status,
    close: async () => {
      abort.abort();
      await reading;
    },
  };
}
