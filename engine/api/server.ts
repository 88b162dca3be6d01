import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import swagger from "@fastify/swagger";
import { bearerAuth, hostAuth, loopbackHostOnly } from "./auth";
import { errorHandler } from "./error-handler";
import { datastoreRoutes } from "./routes/datastores";
import { diskRoutes } from "./routes/disks";
import { engineInfoRoutes } from "./routes/engine-info";
import { jobRoutes } from "./routes/jobs";
import { templateRoutes } from "./routes/templates";
import { replicaRoutes } from "./routes/replicas";
import { catalogRoutes } from "./routes/catalogs";
import { poolRoutes } from "./routes/pools";
import { fleetRoutes } from "./routes/fleets";
import { vmRoutes } from "./routes/vms";
import { snapshotRoutes } from "./routes/snapshots";
import { parentRoutes } from "./routes/parents";
import { hostRoutes } from "./routes/hosts";
import { tokenRoutes } from "./routes/tokens";
import { eventRoutes } from "./routes/events";
import { metricsRoutes } from "./routes/metrics";
import { consoleRoutes } from "./routes/console";
import * as path from "node:path";
import { PROJECT_ROOT } from "../version";
import type { EngineServices } from "./services";

/** Bodies beyond this are refused with 413: every request of the API is small JSON. */
export const BODY_LIMIT_BYTES = 256 * 1024;

/**
 * Builds the HTTP API: JSON in and out, an OpenAPI document at `/openapi.json`, bearer-token
 * auth unless `token` is null (the explicit loopback dev mode), the host credential on
 * `/internal/` routes always (from `services.settings.hostToken`), errors as `{error:{…}}`.
 */
export async function buildApi(services: EngineServices, token: string | null): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.log as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // Reject unknown fields and wrong types instead of quietly dropping or coercing them.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: true, allErrors: false } },
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: "CF_NOT_FOUND", message: `no route ${req.method} ${req.url}` } });
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "clonefleet engine API", version: services.version, description: "Long work answers 202 with a job; poll or wait on /jobs/{id}." },
      components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
      security: [{ bearer: [] }],
    },
  });
  app.addHook("onRequest", token !== null ? bearerAuth(token, services.store) : loopbackHostOnly());
  app.addHook("onRequest", hostAuth(services.store));
  const metrics = services.metrics;
  // Labelled by route pattern (routeOptions.url), so ids in URLs never become label values.
  if (metrics) app.addHook("onResponse", async (req, reply) => metrics.request(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000));
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  await app.register(engineInfoRoutes, { services });
  await app.register(datastoreRoutes, { services });
  await app.register(templateRoutes, { services });
  await app.register(jobRoutes, { services });
  await app.register(diskRoutes, { services });
  await app.register(poolRoutes, { services });
  await app.register(fleetRoutes, { services });
  await app.register(vmRoutes, { services });
  await app.register(snapshotRoutes, { services });
  await app.register(parentRoutes, { services });
  await app.register(replicaRoutes, { services });
  await app.register(catalogRoutes, { services });
  await app.register(hostRoutes, { services });
  await app.register(tokenRoutes, { services });
  await app.register(eventRoutes, { services });
  await app.register(metricsRoutes, { services });
  await app.register(consoleRoutes, { dir: path.join(PROJECT_ROOT, "dist", "console") });
  return app;
}
