import type { FastifyPluginAsync } from "fastify";
import { checkDiskRegister, describeChain, directContext, type RegisterDiskResult } from "../../ops";
import { JOB_KINDS } from "../../model";
import { submitAndAnswer } from "./job-answer";
import { ChainQuery, chainToWire, ChainWire, JobWire, RegisterDiskBody, registerDiskToWire, RegisterDiskWire } from "../schemas";
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
        summary: "Give content IDs to the layers of a chain put into a datastore by hand (in that datastore's catalog; a `disk.register` job); answers the chain once done, or 202 with the job on `Prefer: respond-async`",
        body: RegisterDiskBody,
        response: { 200: RegisterDiskWire, 202: JobWire },
      },
    },
    async (req, reply) => {
      await checkDiskRegister(services.store, { path: req.body.path });
      return submitAndAnswer(services, req, reply, JOB_KINDS.registerDisk, { path: req.body.path }, (r) => registerDiskToWire(r as RegisterDiskResult));
    },
  );
};
