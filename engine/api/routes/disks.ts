import type { FastifyPluginAsync } from "fastify";
import { describeChain, directContext } from "../../ops";
import { ChainQuery, chainToWire, ChainWire } from "../schemas";
import type { EngineServices } from "../services";

/** `/disks/chain`: the layers of a disk with their content IDs. */
export const diskRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.get<{ Querystring: ChainQuery }>(
    "/disks/chain",
    { schema: { tags: ["disks"], summary: "Describe a disk's backing chain", querystring: ChainQuery, response: { 200: ChainWire } } },
    async (req) => chainToWire(req.query.path, await describeChain(directContext(services.store, services.log), req.query.path)),
  );
};
