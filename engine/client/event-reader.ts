/** One server-sent event of `GET /events`: its `event:` name and its parsed `data:` JSON. */
export interface StreamEvent {
  event: string;
  data: unknown;
}

/**
 * Reads server-sent events from a response body one at a time. `next()` may be raced against a
 * timer: an unfinished call is kept and answered by the next one, so no event is lost.
 */
export class EventReader {
  private buffer = "";
  private pending: Promise<StreamEvent | null> | null = null;
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Streaming decode: a character split across two chunks comes out whole. */
  private readonly decoder = new TextDecoder();

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next event, or null once the stream ended. */
  next(): Promise<StreamEvent | null> {
    this.pending ??= this.read().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  async close(): Promise<void> {
    await this.reader.cancel().catch(() => undefined);
  }

  private async read(): Promise<StreamEvent | null> {
    for (;;) {
      let end: number;
      while ((end = this.buffer.indexOf("\n\n")) >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        // Comment blocks (keep-alives) carry neither.
        if (event && data !== undefined) return { event, data: JSON.parse(data) as unknown };
      }
      const { value, done } = await this.reader.read();
      if (done) return null;
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }
}
