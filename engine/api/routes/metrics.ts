import type { FastifyPluginAsync } from "fastify";
import type { EngineServices } from "../services";

/** `GET /metrics`: the engine's Prometheus metrics (text format), behind the same auth as the API. */
export const metricsRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  const metrics = services.metrics;
  if (!metrics) return;
  app.get("/metrics", { schema: { tags: ["metrics"], summary: "Prometheus metrics (text exposition format)" } }, async (_req, reply) => {
    const { contentType, body } = await metrics.scrape();
    return reply.header("content-type", contentType).header("cache-control", "no-store").send(body);
  });
};
