import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import axios from "axios";
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
});
