import type { FastifyPluginAsync } from "fastify";
import { Type } from "@sinclair/typebox";
import { createApiToken, revokeApiToken } from "../../ops";
import type { TokenScope } from "../../model";
import { CreatedTokenWire, CreateTokenBody, IdParams, tokenToWire, TokenWire } from "../schemas";
import type { EngineServices } from "../services";

/** `/tokens`: tokens the engine issues besides its own (read-only scopes); create, list, revoke. */
export const tokenRoutes: FastifyPluginAsync<{ services: EngineServices }> = async (app, { services }) => {
  app.post<{ Body: CreateTokenBody }>(
    "/tokens",
    { schema: { tags: ["tokens"], summary: "Issue a scoped token (its secret is in this answer only)", body: CreateTokenBody, response: { 201: CreatedTokenWire } } },
    async (req, reply) => {
      const { token, secret } = await createApiToken(services.store, { name: req.body.name, scope: req.body.scope as TokenScope });
      return reply.status(201).send({ ...tokenToWire(token), token: secret });
    },
  );
  app.get("/tokens", { schema: { tags: ["tokens"], summary: "List issued tokens (never their secrets)", response: { 200: Type.Array(TokenWire) } } }, async () =>
    (await services.store.tokens.list()).map(tokenToWire),
  );
  app.delete<{ Params: IdParams }>(
    "/tokens/:id",
    { schema: { tags: ["tokens"], summary: "Revoke a token (by id or name); requests with it answer 401 from then on", params: IdParams } },
    async (req, reply) => {
      await revokeApiToken(services.store, req.params.id);
      return reply.status(204).send();
    },
  );
};
