import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import axios from "axios";
import { request as httpRequest } from "node:http";
import pino from "pino";
import { startEngine } from "../../engine/api/engine";

describe("API authentication", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-auth-"));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));
  const silent = pino({ level: "silent" });
  const http = (url: string) => axios.create({ baseURL: url, validateStatus: () => true, proxy: false });

  it("generates a token at first start into <state>/token with mode 0600, and keeps it across restarts", async () => {
    const stateDir = path.join(dir, "state");
    const first = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: silent });
    const token = first.token!;
    await first.close();
    const st = await fs.stat(path.join(stateDir, "token"));
    expect(st.mode & 0o777).toBe(0o600);
    expect((await fs.readFile(path.join(stateDir, "token"), "utf8")).trim()).toBe(token);
    const second = await startEngine({ stateDir, host: "127.0.0.1", port: 0, log: silent });
    try {
      expect(second.token).toBe(token);
      expect((await http(second.url).get("/datastores", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await http(second.url).get("/health")).status).toBe(200);
    } finally {
      await second.close();
    }
  });

  it("serves without a token only on loopback, only when asked, and says so in the log", async () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const open = await startEngine({ stateDir: path.join(dir, "open"), host: "127.0.0.1", port: 0, insecureNoAuth: true, log });
    try {
      expect(open.token).toBeNull();
      expect((await http(open.url).get("/datastores")).status).toBe(200);
      expect(lines.join("")).toContain("WITHOUT authentication");
      await expect(fs.access(path.join(dir, "open", "token"))).rejects.toThrow();
    } finally {
      await open.close();
    }
    await expect(startEngine({ stateDir: path.join(dir, "wide"), host: "0.0.0.0", port: 0, insecureNoAuth: true, log: silent })).rejects.toThrow(
      /only allowed on a loopback address/,
    );
  });
  /** A raw GET with exactly this Host header (undefined: none at all), as a rebound browser page would send it. */
  const rawGet = (url: string, route: string, host: string | undefined, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: { error?: { code: string; message: string; field?: string } } }>((resolve, reject) => {
      const u = new URL(url);
      const req = httpRequest({ host: u.hostname, port: u.port, path: route, method: "GET", setHost: host !== undefined, headers: { ...(host !== undefined ? { host } : {}), ...headers } }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}") }));
      });
      req.on("error", reject);
      req.end();
    });

  it("without a token answers only requests for a loopback name (no DNS rebinding); with a token the Host is not checked", async () => {
    const open = await startEngine({ stateDir: path.join(dir, "open"), host: "127.0.0.1", port: 0, insecureNoAuth: true, log: silent });
    try {
      const port = new URL(open.url).port;
      for (const host of ["evil.example", `evil.example:${port}`, "127.0.0.1.evil.example", "localhost.evil.example:80"]) {
        for (const route of ["/datastores", "/health"]) {
          const r = await rawGet(open.url, route, host);
          expect({ host, route, status: r.status, code: r.body.error?.code, field: r.body.error?.field }).toEqual({ host, route, status: 403, code: "CF_HOST_NOT_ALLOWED", field: "host" });
          expect(r.body.error!.message).toContain(`${JSON.stringify(host)} is not a loopback name`);
        }
      }
      // An HTTP/1.1 request without Host is refused by Node's server before any route sees it.
      expect((await rawGet(open.url, "/datastores", undefined)).status).toBe(400);
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, "localhost"]) {
        expect({ host, status: (await rawGet(open.url, "/datastores", host)).status }).toEqual({ host, status: 200 });
      }
    } finally {
      await open.close();
    }
    const guarded = await startEngine({ stateDir: path.join(dir, "guarded"), host: "127.0.0.1", port: 0, log: silent });
    try {
      const authorization = `Bearer ${guarded.token}`;
      expect((await rawGet(guarded.url, "/datastores", "evil.example", { authorization })).status).toBe(200);
      expect((await rawGet(guarded.url, "/datastores", "evil.example")).body.error?.code).toBe("CF_UNAUTHORIZED");
    } finally {
      await guarded.close();
    }
  });
});
