import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import type { EngineServices } from "../services";
import { recoveryReportKey } from "../../jobs";
import { LOCAL_HOST_ID } from "../../model";

export const EngineInfoWire = Type.Object({
  version: Type.String(),
  started_at: Type.String(),
  auth: Type.String(),
  last_recovery: Type.Unknown(),
});

/** `/health` (open) and `/engine` (facts and the last start's recovery report). */
export const engineInfoRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.get("/health", { schema: { tags: ["engine"], summary: "Liveness" } }, async () => ({ ok: true }));
  app.get(
    "/engine",
    { schema: { tags: ["engine"], summary: "Engine facts and the last recovery report", response: { 200: EngineInfoWire } } },
    async () => {
      const last = await services.store.settings.get(recoveryReportKey(services.hostId ?? LOCAL_HOST_ID));
      return {
        version: services.version,
        started_at: services.startedAt,
        auth: services.authMode,
        last_recovery: last ? JSON.parse(last) : null,
      };
    },
  );
};
