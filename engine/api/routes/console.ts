import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { FastifyPluginAsync, FastifyReply } from "fastify";

/**
 * The console's own policy: its scripts and styles come from the engine only (no inline script,
 * no eval), it talks to this engine only, and no page may frame it.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

interface ConsoleFile {
  body: Buffer;
  type: string;
  /** Vite names built assets by content hash: they never change under one name. */
  immutable: boolean;
}

/**
 * Reads the built console once: only files found under `dir` at start are ever served, looked up
 * by exact name, so no request path reaches the file system (no traversal, no symlink surprises).
 */
async function readConsoleFiles(dir: string): Promise<Map<string, ConsoleFile>> {
  const files = new Map<string, ConsoleFile>();
  const walk = async (sub: string): Promise<void> => {
    const entries = await fs.readdir(path.join(dir, sub), { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(rel);
      else if (e.isFile() && TYPES[path.extname(e.name)]) {
        files.set(rel, { body: await fs.readFile(path.join(dir, rel)), type: TYPES[path.extname(e.name)], immutable: rel.startsWith("assets/") });
      }
    }
  };
  await walk("");
  return files;
}

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header("content-security-policy", CONSOLE_CSP)
    .header("x-content-type-options", "nosniff")
    .header("x-frame-options", "DENY")
    .header("referrer-policy", "no-referrer")
    .header("cross-origin-opener-policy", "same-origin")
    .header("cross-origin-resource-policy", "same-origin");
}

/**
 * `/ui/`: the web console built by `npm run build` (console/ → dist/console). Its files hold no
 * secret and are served without a token; the console signs in against the API with one.
 */
export const consoleRoutes: FastifyPluginAsync<{ dir: string }> = async (app, { dir }) => {
  const files = await readConsoleFiles(dir);
  app.get("/ui", { schema: { hide: true } }, async (_req, reply) => secure(reply).redirect("/ui/", 308));
  app.get<{ Params: { "*": string } }>("/ui/*", { schema: { hide: true } }, async (req, reply) => {
    const name = req.params["*"] || "index.html";
    const file = files.get(name);
    secure(reply);
    if (!file) {
      const message = files.size === 0 ? "the console is not built: run npm run build" : `no console file ${JSON.stringify(name)}`;
      return reply.status(404).send({ error: { code: "CF_NOT_FOUND", message } });
    }
    return reply
      .header("content-type", file.type)
      .header("cache-control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache")
      .send(file.body);
  });
};
