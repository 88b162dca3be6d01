import { existsSync } from "node:fs";
import * as path from "node:path";
import { request as httpRequest } from "node:http";
import { PROJECT_ROOT } from "../../engine/version";
import { startTestEngine, type TestEngine } from "../support/engine";

/** The built console's files, served under /ui/ with the console's security headers. */
const built = existsSync(path.join(PROJECT_ROOT, "dist", "console", "index.html"));

let t: TestEngine;
beforeAll(async () => {
  if (!built) throw new Error("the console is not built: run npm run build (it runs vite build console)");
  t = await startTestEngine();
});
afterAll(() => t?.stop());

/** A raw GET with the path sent as written (no URL normalisation of `..`, as an attacker sends it). */
const rawGet = (route: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const u = new URL(t.engine.url);
    const req = httpRequest({ host: u.hostname, port: u.port, path: route, method: "GET", headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });

test("/ui/ serves the console without a token, with a strict CSP and the other security headers on every answer", async () => {
  const index = await rawGet("/ui/");
  expect(index.status).toBe(200);
  expect(index.headers["content-type"]).toContain("text/html");
  expect(index.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  const asset = /src="\/ui\/(assets\/[^"]+\.js)"/.exec(index.body)![1];
  const js = await rawGet(`/ui/${asset}`);
  expect(js.status).toBe(200);
  expect(js.headers["content-type"]).toContain("text/javascript");
  expect(js.headers["cache-control"]).toContain("immutable");
  for (const res of [index, js, await rawGet("/ui/nothing-here.js"), await rawGet("/ui")]) {
    const csp = String(res.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    expect(res.headers["x-content-type-options"]).toBe("nosniff");
    expect(res.headers["referrer-policy"]).toBe("no-referrer");
    expect(res.headers["x-frame-options"]).toBe("DENY");
  }
  expect((await rawGet("/ui")).status).toBe(308);
  // The console is open; the API behind it is not.
  expect((await rawGet("/vms")).status).toBe(401);
});

test("paths that try to leave the console's files answer 404 and show nothing of the state folder", async () => {
  for (const route of ["/ui/../state/token", "/ui/..%2fstate%2ftoken", "/ui/%2e%2e/%2e%2e/package.json", "/ui/assets/../../../package.json", "/ui//etc/passwd", "/ui/index.html%00.js"]) {
    const res = await rawGet(route);
    // 404 from the console's file map, or 401 where the router resolved `..` onto an API route.
    expect({ route, refused: [400, 401, 404].includes(res.status) }).toEqual({ route, refused: true });
    expect(res.body).not.toContain(t.engine.token!);
    expect(res.body).not.toContain('"name": "clonefleet"');
  }
});
