import { randomBytes, timingSafeEqual } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { ErrorBody } from "./schemas";

/** Routes anyone may call: liveness and the API description hold nothing secret. */
const OPEN_ROUTES = new Set(["/health", "/openapi.json"]);

/**
 * The engine's API token: read from `<stateDir>/token`, or generated there at first start
 * (256 random bits, file mode 0600).
 */
export async function loadOrCreateToken(stateDir: string): Promise<string> {
  const file = tokenFile(stateDir);
  try {
    const token = (await fs.readFile(file, "utf8")).trim();
    if (token) return token;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const token = randomBytes(32).toString("base64url");
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${token}\n`, { mode: 0o600 });
  await fs.rename(tmp, file);
  return token;
}

/** Where the token of a state folder lives. */
export function tokenFile(stateDir: string): string {
  return path.join(stateDir, "token");
}

/** An onRequest hook that answers 401 unless the request carries `Authorization: Bearer <token>`. */
export function bearerAuth(token: string) {
  const expected = Buffer.from(token);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (OPEN_ROUTES.has(req.routeOptions.url ?? "")) return;
    const header = req.headers.authorization ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const given = m ? Buffer.from(m[1]) : null;
    if (!given || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      const body: ErrorBody = {
        error: { code: "CF_UNAUTHORIZED", message: given ? "the API token is wrong" : "an API token is required (Authorization: Bearer <token>)" },
      };
      await reply.status(401).header("www-authenticate", "Bearer").send(body);
    }
  };
}

/** Host headers a browser sends only to this machine: loopback names, with or without a port. */
const LOOPBACK_HOST = /^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d{1,5})?$/i;

/**
 * An onRequest hook for the tokenless loopback mode: answers 403 `CF_HOST_NOT_ALLOWED` unless
 * the Host header is a loopback name. Without it a web page could rebind its own DNS name to
 * 127.0.0.1 and drive the engine from the user's browser; with a token the page lacks the token.
 */
export function loopbackHostOnly() {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const host = req.headers.host ?? "";
    if (LOOPBACK_HOST.test(host)) return;
    const body: ErrorBody = {
      error: {
        code: "CF_HOST_NOT_ALLOWED",
        message: `host: ${host ? JSON.stringify(host) : "a missing Host header"} is not a loopback name; without a token the engine answers only requests for localhost, 127.0.0.1 or [::1]`,
        field: "host",
      },
    };
    await reply.status(403).send(body);
  };
}
