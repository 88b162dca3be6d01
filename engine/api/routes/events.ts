import type { FastifyPluginAsync } from "fastify";
import type { EngineEvent } from "../event-stream";
import type { EngineServices } from "../services";

/** A comment line this often keeps proxies and idle timeouts from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;

/**
 * `GET /events`: server-sent events of this engine's changes: `job` events (state, progress,
 * result, error) and `record` events (created/updated/deleted with kind and id). Authenticated
 * like every route (Authorization header; browsers read it with fetch(), never a token in the URL).
 */
export const eventRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const events = services.events;
  if (!events) return;
  const open = new Set<() => void>();
  // Before the server waits for connections to end: a stream never ends on its own.
  app.addHook("preClose", async () => {
    for (const end of [...open]) end();
  });
  app.get("/events", { schema: { tags: ["events"], summary: "Stream job progress and record changes (text/event-stream)" } }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      connection: "keep-alive",
    });
    let seq = 0;
    const send = (e: EngineEvent) => {
      seq++;
      res.write(`id: ${seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    res.write(": clonefleet events\n\n");
    const unsubscribe = events.subscribe(send);
    const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
    const end = () => {
      clearInterval(keepalive);
      unsubscribe();
      open.delete(end);
      if (!res.writableEnded) res.end();
    };
    open.add(end);
    req.raw.on("close", end);
  });
};
