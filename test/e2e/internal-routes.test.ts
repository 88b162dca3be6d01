import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import axios, { type AxiosInstance } from "axios";
import { startTestEngine, type TestEngine } from "../support/engine";

/**
 * The agent-to-agent routes under /internal/ stop QEMUs and remove folders as root: they answer
 * to the hosts' own credential only, and every VM id they get is checked before it reaches a path.
 */
const HOST_HEADER = "x-clonefleet-host-token";
const HOST_ID = "x-clonefleet-host";
const UNKNOWN_VM = "vm-0123456789abcdef";

const http = (url: string): AxiosInstance => axios.create({ baseURL: url, validateStatus: () => true, proxy: false });
const exists = (p: string) => fs.stat(p).then(() => true, () => false);

describe("internal host-to-host routes", () => {
  let t: TestEngine;
  let hostToken: string;
  let vmsRoot: string;
  beforeAll(async () => {
    t = await startTestEngine();
    hostToken = (await fs.readFile(path.join(t.stateDir, "host-token"), "utf8")).trim();
    vmsRoot = path.join(t.stateDir, "vms");
    asHost.headers[HOST_HEADER] = hostToken;
  });
  afterAll(() => t.stop());
  const asHost = { headers: { [HOST_HEADER]: "", [HOST_ID]: "local" } };

  it("keeps the host credential in <state>/host-token, mode 0600, apart from the API token", async () => {
    const st = await fs.stat(path.join(t.stateDir, "host-token"));
    expect(st.mode & 0o777).toBe(0o600);
    expect(hostToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(hostToken).not.toBe(t.engine.token);
    // The inventory holds only the credential's hash, which no API answer shows.
    const record = await t.engine.store.hosts.get("local");
    expect(record?.tokenHash).toBe(createHash("sha256").update(hostToken).digest("hex"));
    expect(JSON.stringify(await t.client.hosts.list())).not.toContain(record!.tokenHash!);
  });

  it("refuses the user's API token, a missing and a wrong credential on /internal/, and the host credential on user routes", async () => {
    const sentinel = path.join(t.stateDir, "sentinel");
    await fs.writeFile(sentinel, "keep");
    const body = { vm_id: "..", state_dir: t.stateDir };
    const withUser = await http(t.engine.url).post("/internal/migrations/abort", body, { headers: { authorization: `Bearer ${t.engine.token}` } });
    expect(withUser.status).toBe(403);
    expect(withUser.data.error.code).toBe("CF_UNAUTHORIZED");
    expect(withUser.data.error.message).toMatch(/only a host's credential .*not the API token/);
    const without = await http(t.engine.url).post("/internal/migrations/abort", body);
    expect(without.status).toBe(401);
    expect(without.data.error).toMatchObject({ code: "CF_UNAUTHORIZED", message: expect.stringMatching(/require the calling host's name .* and its credential/) });
    const unnamed = await http(t.engine.url).post("/internal/migrations/abort", body, { headers: { [HOST_HEADER]: hostToken } });
    expect(unnamed.status).toBe(401);
    const wrong = await http(t.engine.url).post("/internal/migrations/activate", body, { headers: { [HOST_HEADER]: "x".repeat(hostToken.length), [HOST_ID]: "local" } });
    expect(wrong.status).toBe(401);
    expect(wrong.data.error).toMatchObject({ code: "CF_UNAUTHORIZED", message: 'the host credential is wrong for host "local"' });
    // A right credential shown for a host that is not its own, or for no host at all, opens nothing either.
    for (const other of ["b", "nowhere"]) {
      const res = await http(t.engine.url).post("/internal/migrations/activate", body, { headers: { [HOST_HEADER]: hostToken, [HOST_ID]: other } });
      expect(res.status).toBe(401);
      expect(res.data.error.message).toBe(`the host credential is wrong for host "${other}"`);
    }
    expect((await http(t.engine.url).get("/datastores", asHost)).status).toBe(401);
    expect(await exists(sentinel)).toBe(true);
    await fs.rm(sentinel);
  });

  it.each([
    ["..", 400, "CF_INVALID_FIELD", (root: string) => path.dirname(root)],
    ["../../x", 400, "CF_INVALID_FIELD", (root: string) => path.join(root, "..", "..", "x")],
    [UNKNOWN_VM, 404, "CF_NOT_FOUND", (root: string) => path.join(root, UNKNOWN_VM)],
  ])("abort and activate with vm_id %j answer %i %s naming vm_id, and remove nothing", async (vmId, status, code, stateDirOf) => {
    const target = stateDirOf(vmsRoot);
    await fs.mkdir(target, { recursive: true });
    const sentinel = path.join(target, "sentinel");
    await fs.writeFile(sentinel, "keep");
    try {
      for (const route of ["abort", "activate"]) {
        const res = await http(t.engine.url).post(`/internal/migrations/${route}`, { vm_id: vmId, state_dir: target }, asHost);
        expect({ route, status: res.status, code: res.data.error?.code, field: res.data.error?.field }).toEqual({ route, status, code, field: "vm_id" });
        expect(res.data.error.message).toContain(vmId);
      }
      expect(await exists(sentinel)).toBe(true);
      // The engine's own state folder and inventory are intact.
      expect((await t.client.datastores.list()).length).toBe(0);
    } finally {
      await fs.rm(target === t.stateDir ? sentinel : target, { recursive: true, force: true });
    }
  });

  it("incoming and complete refuse a vm_id that is not a known VM, naming vm_id", async () => {
    for (const vmId of ["..", "../../x", UNKNOWN_VM]) {
      const incoming = await http(t.engine.url).post("/internal/migrations/incoming", { vm_id: vmId, migration_id: "m" }, asHost);
      expect([400, 404]).toContain(incoming.status);
      expect(incoming.data.error.field).toBe("vm_id");
      const complete = await http(t.engine.url).post("/internal/migrations/complete", { vm_id: vmId, ref: "r", outcome: "succeeded", migration_id: "m" }, asHost);
      expect([400, 404]).toContain(complete.status);
      expect(complete.data.error.field).toBe("vm_id");
    }
  });
});

describe("internal routes without API auth", () => {
  it("still require the host credential with --insecure-no-auth", async () => {
    const t = await startTestEngine({ engine: { insecureNoAuth: true } });
    try {
      const hostToken = (await fs.readFile(path.join(t.stateDir, "host-token"), "utf8")).trim();
      const body = { vm_id: "..", state_dir: t.stateDir };
      expect((await http(t.engine.url).get("/datastores")).status).toBe(200);
      const open = await http(t.engine.url).post("/internal/migrations/abort", body);
      expect(open.status).toBe(401);
      expect(open.data.error.code).toBe("CF_UNAUTHORIZED");
      const withHost = await http(t.engine.url).post("/internal/migrations/abort", body, { headers: { [HOST_HEADER]: hostToken, [HOST_ID]: "local" } });
      expect(withHost.status).toBe(400);
      expect(withHost.data.error.field).toBe("vm_id");
      expect(await exists(path.join(t.stateDir, "inventory.sqlite"))).toBe(true);
    } finally {
      await t.stop();
    }
  });
});
