import * as fs from "node:fs";
import { CtyValue, UNKNOWN, fromPlain } from "../../provider/protocol/cty";
import { FIXTURE_TOKEN } from "./fixtures/test-provider";
import {
  BlockInfo,
  Configuration,
  CoreCheckError,
  DiagnosticsError,
  ProviderProcess,
  TerraformWalk,
  compatibilityProblems,
  diagnosticField,
  impliedType,
  planProblems,
} from "./driver";
import { fixtureLaunch, requireBuiltFixture, tempStore } from "./fixture";

jest.setTimeout(120_000);

let tmp: ReturnType<typeof tempStore>;
beforeAll(() => {
  requireBuiltFixture();
  tmp = tempStore();
});
afterAll(async () => {
  await ProviderProcess.stopAll();
  tmp.cleanup();
});

const A = "clonefleet_thing.a";
const config = (attrs: Record<string, unknown>, data?: Configuration["data"]): Configuration => ({
  provider: { endpoint: tmp.store, token: FIXTURE_TOKEN },
  resources: { [A]: attrs },
  data,
});
const store = () => JSON.parse(fs.readFileSync(tmp.store, "utf8")) as { things: Record<string, Record<string, unknown>> };
const actions = (plan: { changes: { address: string; action: string }[] }) => plan.changes.map((c) => [c.address, c.action]);

describe("a full lifecycle through the protocol, one provider process per step", () => {
  const walk = new TerraformWalk(fixtureLaunch({ tfLog: "trace" }));
  const base = { name: "a", size: 1, tags: { env: "test" }, labels: ["y", "x"], datastore_ids: ["ds-1", "ds-2"] };

  test("validate accepts the configuration", async () => {
    expect(await walk.validate(config(base))).toEqual([]);
  });

  test("plan for create: configured values as written, computed values unknown, defaults filled", async () => {
    const plan = await walk.plan(config(base));
    expect(actions(plan)).toEqual([[A, "create"]]);
    const planned = plan.changes[0].planned;
    for (const computed of ["id", "revision", "created_at", "note"]) expect(planned.getAttr(computed).isKnown()).toBe(false);
    expect(planned.getAttr("mode").asString()).toBe("standard");
    expect(planned.getAttr("size").asNumber()).toBe(1);
  });

  test("apply creates it, with every value known", async () => {
    const plan = await walk.applyConfig(config(base));
    expect(actions(plan)).toEqual([[A, "create"]]);
    expect(walk.stateOf(A)).toMatchObject({ id: "thing-1", name: "a", size: 1, mode: "standard", revision: 1, note: "made by the fixture for a", timeouts: null });
    expect(Object.keys(store().things)).toEqual(["thing-1"]);
  });

  test("a plan with no changes is empty", async () => {
    const plan = await walk.plan(config(base));
    expect(actions(plan)).toEqual([[A, "no-op"]]);
  });

  test("a data source reads the object", async () => {
    const plan = await walk.plan(config(base, { "clonefleet_thing_info.x": { id: "thing-1" } }));
    expect(plan.data["clonefleet_thing_info.x"]).toEqual({ id: "thing-1", name: "a", size: 1 });
  });

  test("update in place keeps the id and recomputes the revision", async () => {
    const next = { ...base, size: 2, tags: { env: "prod" } };
    const plan = await walk.plan(config(next));
    expect(actions(plan)).toEqual([[A, "update"]]);
    expect(plan.changes[0].planned.getAttr("id").asString()).toBe("thing-1");
    expect(plan.changes[0].planned.getAttr("revision").isKnown()).toBe(false);
    await walk.apply(plan);
    expect(walk.stateOf(A)).toMatchObject({ id: "thing-1", size: 2, tags: { env: "prod" }, revision: 2 });
    expect(actions(await walk.plan(config(next)))).toEqual([[A, "no-op"]]);
  });

  test("changing only timeouts updates state without calling the engine", async () => {
    const next = { ...base, size: 2, tags: { env: "prod" }, timeouts: { create: "30m" } };
    const plan = await walk.applyConfig(config(next));
    expect(actions(plan)).toEqual([[A, "update"]]);
    expect(walk.stateOf(A)).toMatchObject({ revision: 2, timeouts: { create: "30m", update: null, delete: null } });
    expect(actions(await walk.plan(config(next)))).toEqual([[A, "no-op"]]);
  });

  test("changing a replace attribute replaces the object", async () => {
    const next = { ...base, name: "b", size: 2, tags: { env: "prod" } };
    const plan = await walk.plan(config(next));
    expect(actions(plan)).toEqual([[A, "replace"]]);
    expect(plan.changes[0].requiresReplace).toEqual([[{ attribute: "name" }]]);
    await walk.apply(plan);
    expect(walk.stateOf(A)).toMatchObject({ id: "thing-2", name: "b", revision: 1 });
    expect(Object.keys(store().things)).toEqual(["thing-2"]);
  });

  test("import by id reproduces the state, and the next plan is empty", async () => {
    const other = new TerraformWalk(fixtureLaunch());
    const next = { ...base, name: "b", size: 2, tags: { env: "prod" } };
    await other.importResource(config(next), A, "thing-2");
    expect(other.stateOf(A)).toEqual({ ...walk.stateOf(A), timeouts: null });
    expect(actions(await other.plan(config(next)))).toEqual([[A, "no-op"]]);
  });

  test("importing an id that does not exist fails as Terraform reports it", async () => {
    const other = new TerraformWalk(fixtureLaunch());
    await expect(other.importResource(config(base), A, "thing-404")).rejects.toThrow(/Cannot import non-existent remote object/);
  });

  test("drift: an object removed outside Terraform is planned for creation again", async () => {
    const data = store();
    data.things = {};
    fs.writeFileSync(tmp.store, JSON.stringify(data));
    const next = { ...base, name: "b", size: 2, tags: { env: "prod" } };
    const plan = await walk.plan(config(next));
    expect(actions(plan)).toEqual([[A, "create"]]);
    await walk.apply(plan);
    expect(walk.stateOf(A)).toMatchObject({ id: "thing-3", name: "b" });
  });

  test("destroy removes it", async () => {
    const plan = await walk.destroy(config(base));
    expect(actions(plan)).toEqual([[A, "delete"]]);
    expect(walk.state.size).toBe(0);
    expect(store().things).toEqual({});
  });

  test("each step ran in its own provider process, and the token never reached a log", () => {
    const pids = walk.processes.map((p) => p.pid);
    expect(new Set(pids).size).toBe(pids.length);
    expect(walk.processes.map((p) => p.step)).toEqual(expect.arrayContaining(["validate", "plan", "apply", "plan -destroy"]));
    for (const err of walk.stderr) expect(err).not.toContain(FIXTURE_TOKEN);
  });
});

describe("errors reach the user as Terraform shows them", () => {
  test("validation problems are diagnostics with attribute paths", async () => {
    const walk = new TerraformWalk(fixtureLaunch());
    const diags = await walk.validate(config({ name: "v", datastore_ids: ["", "ok"], timeouts: { delete: "later" } }));
    expect(diags.map(diagnosticField).sort()).toEqual(["datastore_ids[0]", "timeouts.delete"]);
  });

  test("a failed create reports the engine's field and leaves nothing in state", async () => {
    const walk = new TerraformWalk(fixtureLaunch());
    const err = await walk.applyConfig(config({ name: "f", datastore_ids: ["ds-1", "missing-9"] })).catch((e) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    expect(err.diagnostics.map(diagnosticField)).toEqual(["datastore_ids[1]"]);
    expect(walk.state.size).toBe(0);
  });

  test("a provider that returns something else than it planned is caught by core's checks", async () => {
    const walk = new TerraformWalk(fixtureLaunch());
    const err = await walk.applyConfig(config({ name: "inconsistent", size: 4 })).catch((e) => e);
    expect(err).toBeInstanceOf(CoreCheckError);
    expect(err.message).toMatch(/inconsistent result after apply[\s\S]*size: was 4, but now 5/);
    await walk.destroy(config({ name: "inconsistent", size: 4 }));
  });
});

describe("core's checks, on their own", () => {
  const block: BlockInfo = {
    description: "",
    blocks: {},
    attributes: {
      id: { type: "string", required: false, optional: false, computed: true, sensitive: false, description: "" },
      name: { type: "string", required: true, optional: false, computed: false, sensitive: false, description: "" },
      note: { type: "string", required: false, optional: true, computed: true, sensitive: false, description: "" },
      secret: { type: "string", required: false, optional: true, computed: false, sensitive: true, description: "" },
    },
  };
  const t = impliedType(block);
  const v = (plain: Record<string, unknown>) => fromPlain(t, plain);
  const nul = CtyValue.nullOf(t);

  test("a planned value must equal the configuration for non-computed attributes", () => {
    expect(planProblems(block, nul, v({ name: "a" }), v({ name: "a", id: "x", note: "n" }))).toEqual([]);
    expect(planProblems(block, nul, v({ name: "a" }), v({ name: "b" }))).toEqual(['name: planned value "b" does not match config value "a"']);
    expect(planProblems(block, nul, v({ name: "a" }), v({ name: "a", secret: "s" }))).toEqual(["secret: planned value (sensitive value) for a non-computed attribute"]);
    expect(planProblems(block, nul, v({ name: "a", note: "mine" }), v({ name: "a", note: "theirs" }))).toHaveLength(1);
  });

  test("applied values must keep every value the plan knew", () => {
    expect(compatibilityProblems(v({ name: "a", id: UNKNOWN }), v({ name: "a", id: "x" }))).toEqual([]);
    expect(compatibilityProblems(v({ name: "a", id: "x" }), v({ name: "a", id: "y" }))).toEqual(['id: was "x", but now "y"']);
  });
});
