import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { FastifyReply, FastifyRequest } from "fastify";
import { HOST_ID_HEADER, HOST_TOKEN_HEADER } from "../peer";
import { findApiToken } from "../ops";
import type { Inventory } from "../store";
import type { ErrorBody } from "./schemas";

/** Routes anyone may call: liveness, the API description and the console's static files hold nothing secret. */
const OPEN_ROUTES = new Set(["/health", "/openapi.json", "/ui", "/ui/*"]);

/**
 * The engine's API token: read from `<stateDir>/token`, or generated there at first start
 * (256 random bits, file mode 0600).
 */
export async function loadOrCreateToken(stateDir: string): Promise<string> {
  return loadOrCreateSecret(tokenFile(stateDir));
}

/** Where the token of a state folder lives. */
export function tokenFile(stateDir: string): string {
  return path.join(stateDir, "token");
}

/**
 * This agent's host credential for the agent-to-agent routes under `/internal/`: read from
 * `<stateDir>/host-token`, or generated there at first start (256 random bits, mode 0600).
 * Its SHA-256 goes into the host's inventory record, where other agents check it; the users'
 * API token never opens those routes.
 */
export async function loadOrCreateHostToken(stateDir: string): Promise<string> {
  return loadOrCreateSecret(hostTokenFile(stateDir));
}

/** Where the host credential of a state folder lives. */
export function hostTokenFile(stateDir: string): string {
  return path.join(stateDir, "host-token");
}

/** Reads a secret file, or creates it once: the link fails when another agent made it first, so all read the same. */
async function loadOrCreateSecret(file: string): Promise<string> {
  const read = async (): Promise<string | null> => {
    try {
      return (await fs.readFile(file, "utf8")).trim() || null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      return null;
    }
  };
  const existing = await read();
  if (existing) return existing;
  const secret = randomBytes(32).toString("base64url");
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${secret}\n`, { mode: 0o600 });
  try {
    await fs.link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    // An empty file left by a crash is replaced; a secret another agent wrote wins.
    if (!(await read())) await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  return (await read()) ?? secret;
}

/** Routes only another host's agent calls (S6); they answer to the host credential alone. */
export function isInternalRoute(url: string | undefined): boolean {
  return (url ?? "").startsWith("/internal/");
}

/** The SHA-256 (hex) of a host credential, as host records keep it. */
export function hostTokenHash(hostToken: string): string {
  return createHash("sha256").update(hostToken).digest("hex");
}

/**
 * An onRequest hook for `/internal/` routes: the calling agent names its host in
 * `X-Clonefleet-Host` and shows its own credential in `X-Clonefleet-Host-Token`, which must
 * hash to the credential that host's record in the shared inventory holds. Answers 401
 * otherwise, 403 when a user's API token is shown instead. Installed whatever the API auth
 * mode: these routes stop QEMUs and remove folders.
 */
export function hostAuth(store: Inventory) {
  const refuse = async (reply: FastifyReply, status: 401 | 403, message: string) => {
    const body: ErrorBody = { error: { code: "CF_UNAUTHORIZED", message } };
    await reply.status(status).send(body);
  };
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!isInternalRoute(req.routeOptions.url)) return;
    const token = headerValue(req, HOST_TOKEN_HEADER);
    const hostId = headerValue(req, HOST_ID_HEADER);
    if (!token && req.headers.authorization) {
      return refuse(reply, 403, "internal host-to-host routes accept only a host's credential (X-Clonefleet-Host and X-Clonefleet-Host-Token, from <state folder>/host-token), not the API token");
    }
    if (!token || !hostId) return refuse(reply, 401, "internal host-to-host routes require the calling host's name (X-Clonefleet-Host) and its credential (X-Clonefleet-Host-Token)");
    const host = await store.hosts.get(hostId);
    const expected = host?.tokenHash ? Buffer.from(host.tokenHash, "hex") : null;
    const given = Buffer.from(hostTokenHash(token), "hex");
    if (!expected || expected.length !== given.length || !timingSafeEqual(given, expected)) {
      // One answer for an unknown host and a wrong credential: a caller learns no host names.
      return refuse(reply, 401, `the host credential is wrong for host ${JSON.stringify(hostId)}`);
    }
  };
}

function headerValue(req: FastifyRequest, name: string): string | null {
  const v = req.headers[name];
  return typeof v === "string" && v ? v : null;
}

/** Methods that change nothing: the only ones a read-only token may use. */
const READ_METHODS = new Set(["GET", "HEAD"]);

/**
 * An onRequest hook that answers 401 unless the request carries `Authorization: Bearer <token>`
 * with the engine's token or a token it issued (`store`); a read-only token gets 403
 * `CF_TOKEN_READ_ONLY` on anything but GET and HEAD. `/internal/` routes are left to hostAuth.
 */
export function bearerAuth(token: string, store: Inventory) {
  const expected = Buffer.from(token);
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    // The host routes answer to the host credential alone (hostAuth).
    if (OPEN_ROUTES.has(req.routeOptions.url ?? "") || isInternalRoute(req.routeOptions.url)) return;
    const header = req.headers.authorization ?? "";
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    const given = m ? Buffer.from(m[1]) : null;
    if (given && given.length === expected.length && timingSafeEqual(given, expected)) return;
    // Issued tokens are looked up by hash, so comparing them leaks no timing about the secret.
    const issued = m ? await findApiToken(store, m[1]) : null;
    if (!issued) {
      const body: ErrorBody = {
        error: { code: "CF_UNAUTHORIZED", message: given ? "the API token is wrong or was revoked" : "an API token is required (Authorization: Bearer <token>)" },
      };
      await reply.status(401).header("www-authenticate", "Bearer").send(body);
      return;
    }
    if (!READ_METHODS.has(req.method)) {
      const body: ErrorBody = {
        error: { code: "CF_TOKEN_READ_ONLY", message: `token ${JSON.stringify(issued.name)} has the read-only scope: it may read (GET) but not ${req.method} ${req.url.split("?")[0]}` },
      };
      await reply.status(403).send(body);
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
