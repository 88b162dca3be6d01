import axios from "axios";
import { cliRunner } from "../support/cli";
import { startTestEngine, type TestEngine } from "../support/engine";

/** Read-only tokens: issued, listed and revoked by the CLI; they read everything and change nothing. */
describe("scoped API tokens", () => {
  let te: TestEngine;
  beforeAll(async () => {
    te = await startTestEngine();
  });
  afterAll(() => te.stop());
  const { cli, json } = cliRunner(() => ({ endpoint: te.engine.url, stateDir: te.stateDir }));
  const as = (token: string) => axios.create({ baseURL: te.engine.url, validateStatus: () => true, proxy: false, headers: { authorization: `Bearer ${token}` } });

  it("creates a read-only token with the CLI, which reads everything, changes nothing (403 naming the scope), and stops working once revoked", async () => {
    const created = await json(["token", "create", "dashboard", "--read-only"]);
    expect(created).toMatchObject({ name: "dashboard", scope: "read-only" });
    expect(created.token).toMatch(/^cfro_[A-Za-z0-9_-]{43}$/);
    const listed = await json(["token", "ls"]);
    expect(listed).toEqual([{ id: created.id, name: "dashboard", scope: "read-only", created_at: created.created_at }]);
    // The secret is not kept anywhere an API reader could see it.
    expect(JSON.stringify(listed)).not.toContain(created.token);

    const ro = as(created.token);
    for (const route of ["/datastores", "/vms", "/fleets", "/jobs", "/tokens", "/engine"]) {
      expect({ route, status: (await ro.get(route)).status }).toEqual({ route, status: 200 });
    }
    const refused = await ro.post("/datastores", { name: "ro-ds", path: `${te.dir}/ro-ds` });
    expect(refused.status).toBe(403);
    expect(refused.data.error.code).toBe("CF_TOKEN_READ_ONLY");
    expect(refused.data.error.message).toContain('"dashboard"');
    expect((await ro.post("/tokens", { name: "escalate", scope: "read-only" })).status).toBe(403);
    expect((await ro.delete(`/tokens/${created.id}`)).status).toBe(403);
    // Nothing was made by the refused requests.
    expect(await te.client.datastores.list()).toEqual([]);
    expect((await te.client.tokens.list()).map((t) => t.name)).toEqual(["dashboard"]);
    // Host-to-host routes answer to the host credential only, not to an issued token.
    expect((await ro.post("/internal/migrations/incoming", {})).status).toBe(403);

    // The admin token still changes things.
    const ds = await te.client.datastores.create({ name: "admin-ds", path: `${te.dir}/admin-ds` });
    expect(ds.name).toBe("admin-ds");

    const revoked = await cli(["--state-dir", te.stateDir, "token", "revoke", "dashboard"]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain("revoked token dashboard");
    const after = await ro.get("/datastores");
    expect(after.status).toBe(401);
    expect(after.data.error.code).toBe("CF_UNAUTHORIZED");
    expect(await json(["token", "ls"])).toEqual([]);
  });

  it("refuses bad token requests with typed errors and issues nothing", async () => {
    const noScope = await cli(["--state-dir", te.stateDir, "token", "create", "x"]);
    expect(noScope.code).not.toBe(0);
    expect(noScope.stderr).toContain("--read-only");
    const http = as(te.engine.token!);
    const badName = await http.post("/tokens", { name: "../etc", scope: "read-only" });
    expect(badName.status).toBe(400);
    expect(badName.data.error).toMatchObject({ code: "CF_INVALID_FIELD", field: "name" });
    const badScope = await http.post("/tokens", { name: "admin2", scope: "admin" });
    expect(badScope.status).toBe(400);
    expect((await http.post("/tokens", { name: "twice", scope: "read-only" })).status).toBe(201);
    const dup = await http.post("/tokens", { name: "twice", scope: "read-only" });
    expect(dup.status).toBe(409);
    expect(dup.data.error.field).toBe("name");
    const unknown = await http.delete("/tokens/tok-0000000000000000");
    expect(unknown.status).toBe(404);
    expect((await te.client.tokens.list()).map((t) => t.name)).toEqual(["twice"]);
  });
});
