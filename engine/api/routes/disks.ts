import type { FastifyPluginAsync } from "fastify";
import { describeChain, directContext, registerDisk } from "../../ops";
import { ChainQuery, chainToWire, ChainWire, RegisterDiskBody, registerDiskToWire, RegisterDiskWire } from "../schemas";
import type { EngineServices } from "../services";

/** `/disks/chain`: the layers of a disk with their content IDs; `/disks/register`: content IDs for a chain made by hand. */
export const diskRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.get<{ Querystring: ChainQuery }>(
    "/disks/chain",
    { schema: { tags: ["disks"], summary: "Describe a disk's backing chain", querystring: ChainQuery, response: { 200: ChainWire } } },
    async (req) => chainToWire(req.query.path, await describeChain(directContext(services.store, services.log), req.query.path)),
  );
  app.post<{ Body: RegisterDiskBody }>(
    "/disks/register",
    {
      schema: {
        tags: ["disks"],
        summary: "Give content IDs to the layers of a chain put into a datastore by hand (in that datastore's catalog)",
        body: RegisterDiskBody,
        response: { 200: RegisterDiskWire },
      },
    },
    async (req) => registerDiskToWire(await registerDisk(directContext(services.store, services.log), req.body)),
  );
};
