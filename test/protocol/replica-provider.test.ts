/**
 * clonefleet_replica through the plugin protocol, one provider process per step as Terraform
 * runs it, against a real engine with real qcow2 chains: validation, create (a template's
 * replica; a chain's base, then the whole chain reusing that base by content ID), import, an
 * empty plan, an in-place change, drift (a layer removed, a layer changed) repaired by copying
 * only what is missing, an out-of-band delete, replacement on a new target, and destroy.
 */
import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { PROJECT_ROOT } from "../../engine/version";
import { UNKNOWN } from "../../provider/protocol/cty";
import { filesUnder, makeChain, sameContent, type TestChain } from "../support/chains";
import { makeRawImage, startTestEngine, type TestEngine } from "../support/engine";
import { DiagnosticsError, TerraformWalk, diagnosticField, type Configuration, type LaunchOptions, type Plan } from "./driver";

jest.setTimeout(240_000);

const run = promisify(execFile);

const PROVIDER_BIN = path.join(PROJECT_ROOT, "bin", "terraform-provider-clonefleet");
const launch = (): LaunchOptions => ({ command: PROVIDER_BIN, args: [] });

const SRC = "clonefleet_datastore.src";
const DST = "clonefleet_datastore.dst";
const ALT = "clonefleet_datastore.alt";
const TPL = "clonefleet_template.tiny";
const REP_TPL = "clonefleet_replica.tiny";
const REP_BASE = "clonefleet_replica.base";
const REP_TOP = "clonefleet_replica.top";

interface ChainLayer {
  path: string;
  content_id: string;
  parent_content_id: string | null;
  origin: string;
}

describe("clonefleet_replica through the plugin protocol, against a real engine", () => {
  let t: TestEngine;
  let image: string;
  const walk = new TerraformWalk(launch());
  const ids = { src: "", dst: "", alt: "", tpl: "", hand: "" };
  let tplDisk = "";
  let tplContentId = "";
  /** A three-layer chain made by hand on a datastore Terraform does not manage, registered so its layers have content IDs. */
  let chain: TestChain;
  /** The replicas' settings the current step declares. */
  const declared = {
    tiny: { verify: false } as Record<string, unknown>,
    top: { target: "dst" as "dst" | "alt" },
  };

  const provider = () => ({ endpoint: t.engine.url, token: t.engine.token });
  const actions = (plan: Plan) => Object.fromEntries(plan.changes.map((c) => [c.address, c.action]));
  const change = (plan: Plan, address: string) => plan.changes.find((c) => c.address === address)!;
  const base = (): NonNullable<Configuration["resources"]> => ({
    [SRC]: { name: "src", path: path.join(t.dir, "src") },
    [DST]: { name: "dst", path: path.join(t.dir, "dst") },
    [ALT]: { name: "alt", path: path.join(t.dir, "alt") },
    ...(ids.src ? { [TPL]: { name: "tiny", datastore_id: ids.src, source_path: image } } : {}),
  });
  const config = (): Configuration => ({
    provider: provider(),
    resources: {
      ...base(),
      [REP_TPL]: { template_id: ids.tpl, target_datastore_id: ids.dst, ...declared.tiny },
      [REP_BASE]: { source_disk_path: chain.base, target_datastore_id: ids.dst },
      [REP_TOP]: { source_disk_path: chain.top, target_datastore_id: ids[declared.top.target], verify: true, timeouts: { create: "5m", update: "5m" } },
    },
  });
  const fileSize = async (p: string) => (await fs.stat(p)).size;

  beforeAll(async () => {
    await fs.access(path.join(PROJECT_ROOT, "dist", "provider", "main.js")).catch(() => {
      throw new Error("dist/provider/main.js is missing: run `npx tsc -p tsconfig.json` (npm test does it) first");
    });
    t = await startTestEngine();
    image = await makeRawImage(path.join(t.dir, "image.raw"));

    // Three datastores, then a template on the first.
    await walk.applyConfig({ provider: provider(), resources: base() });
    ids.src = walk.stateOf(SRC)!.id as string;
    ids.dst = walk.stateOf(DST)!.id as string;
    ids.alt = walk.stateOf(ALT)!.id as string;
    await walk.applyConfig({ provider: provider(), resources: base() });
    const tpl = walk.stateOf(TPL)!;
    ids.tpl = tpl.id as string;
    tplDisk = tpl.disk_path as string;
    tplContentId = tpl.content_id as string;

    // A chain filled by hand into a datastore of its own, outside Terraform (registered layers
    // keep their datastore from being removed, so Terraform's destroy could not end here).
    const hand = await t.client.datastores.create({ name: "hand", path: path.join(t.dir, "hand") });
    ids.hand = hand.id;
    chain = await makeChain(path.join(hand.path, "disks"));
    expect((await t.client.disks.register(chain.top)).registered).toEqual([chain.top, chain.middle, chain.base]);
  });
  afterAll(() => t.stop());

  test("validate names every bad attribute", async () => {
    const diags = await walk.validate({
      provider: provider(),
      resources: {
        "clonefleet_replica.both": { source_disk_path: "/srv/x/top.qcow2", template_id: "tpl-x", target_datastore_id: "ds-x" },
        "clonefleet_replica.none": { target_datastore_id: "ds-x" },
        "clonefleet_replica.bad": { source_disk_path: "relative/top.qcow2", target_datastore_id: "", in_sync: false, timeouts: { update: "soon" } },
      },
    });
    expect(diags.map(diagnosticField).sort()).toEqual([
      "in_sync",
      "source_disk_path",
      "source_disk_path",
      "source_disk_path",
      "target_datastore_id",
      "template_id",
      "timeouts.update",
    ]);
    expect(diags.filter((d) => d.summary === "Conflicting replica sources").map(diagnosticField)).toEqual(["source_disk_path", "template_id"]);
    expect(diags.find((d) => d.summary === "Missing replica source")!.detail).toMatch(/exactly one of source_disk_path .* and template_id/);
    expect(diags.find((d) => diagnosticField(d) === "in_sync")!.detail).toMatch(/leave it unset/);
    // Unknown values (a template made in the same apply) are left for the apply.
    const later = await walk.validate({ provider: provider(), resources: { "clonefleet_replica.later": { target_datastore_id: UNKNOWN, template_id: UNKNOWN } } });
    expect(later).toEqual([]);
  });

  test("create: a template's replica; a chain's base, then the whole chain reusing that base by content ID", async () => {
    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({
      [SRC]: "no-op",
      [DST]: "no-op",
      [ALT]: "no-op",
      [TPL]: "no-op",
      [REP_TPL]: "create",
      [REP_BASE]: "create",
      [REP_TOP]: "create",
    });
    const planned = change(plan, REP_TPL).planned;
    expect(planned.getAttr("id").isKnown()).toBe(false);
    expect(planned.getAttr("disk_path").isKnown()).toBe(false);
    expect(planned.getAttr("in_sync").asBool()).toBe(true);
    expect(planned.getAttr("verify").asBool()).toBe(false);
    await walk.apply(plan);

    const tiny = walk.stateOf(REP_TPL)!;
    const engineTiny = (await t.client.replicas.get(tiny.id as string))!;
    expect(tiny).toMatchObject({
      template_id: ids.tpl,
      source_disk_path: null,
      target_datastore_id: ids.dst,
      verify: false,
      in_sync: true,
      layers_copied: 1,
      layers_reused: 0,
      reused_layers: [],
      copied_bytes: await fileSize(tplDisk),
      disk_path: engineTiny.disk_path,
    });
    expect(tiny.chain).toEqual([{ path: engineTiny.disk_path, content_id: tplContentId, parent_content_id: null, origin: "copied" }]);
    expect((tiny.disk_path as string).startsWith(path.join(t.dir, "dst", "clonefleet", "replicas", tiny.id as string) + path.sep)).toBe(true);
    expect(await sameContent(tplDisk, tiny.disk_path as string)).toBe(true);

    const source = await t.client.disks.chain(chain.top);
    const baseReplica = walk.stateOf(REP_BASE)!;
    expect(baseReplica).toMatchObject({ source_disk_path: chain.base, template_id: null, layers_copied: 1, layers_reused: 0, copied_bytes: await fileSize(chain.base) });

    const top = walk.stateOf(REP_TOP)!;
    expect(top).toMatchObject({
      source_disk_path: chain.top,
      template_id: null,
      target_datastore_id: ids.dst,
      verify: true,
      in_sync: true,
      layers_copied: 2,
      layers_reused: 1,
      reused_layers: [{ path: baseReplica.disk_path, content_id: source.layers[2].content_id }],
      copied_bytes: (await fileSize(chain.top)) + (await fileSize(chain.middle)),
    });
    const topChain = top.chain as ChainLayer[];
    expect(topChain.map((l) => l.origin)).toEqual(["copied", "copied", "reused"]);
    expect(topChain.map((l) => l.content_id)).toEqual(source.layers.map((l) => l.content_id));
    expect(topChain.map((l) => l.parent_content_id)).toEqual(source.layers.map((l) => l.parent_content_id));
    expect(topChain[2].path).toBe(baseReplica.disk_path);
    expect((await t.client.replicas.get(top.id as string))?.last_run.verified).toBe(true);
    expect(await sameContent(chain.top, top.disk_path as string)).toBe(true);
  });

  test("a plan with no outside change is empty", async () => {
    const plan = await walk.plan(config());
    expect(new Set(Object.values(actions(plan)))).toEqual(new Set(["no-op"]));
  });

  test("import by id reproduces the state and the next plan is empty", async () => {
    const other = new TerraformWalk(launch());
    // Without timeouts blocks: an import cannot know them, and adding one is a change of its own.
    const cfg = config();
    const { timeouts: _t, ...topWithoutTimeouts } = cfg.resources![REP_TOP];
    cfg.resources![REP_TOP] = topWithoutTimeouts;
    for (const address of [SRC, DST, ALT, TPL, REP_TPL, REP_BASE, REP_TOP]) await other.importResource(cfg, address, walk.stateOf(address)!.id as string);
    for (const address of [REP_TPL, REP_BASE, REP_TOP]) {
      const { timeouts: _ignored, ...expected } = walk.stateOf(address)!;
      expect(other.stateOf(address)).toMatchObject(expected);
    }
    const plan = await other.plan(cfg);
    expect(plan.changes.filter((c) => c.action !== "no-op").map((c) => c.address)).toEqual([]);
  });

  test("verify changes in place, without copying anything", async () => {
    const before = walk.stateOf(REP_TPL)!;
    declared.tiny = { verify: true };
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [REP_TPL]: "update", [REP_BASE]: "no-op", [REP_TOP]: "no-op" });
    expect(change(plan, REP_TPL).requiresReplace).toEqual([]);
    await walk.apply(plan);
    const after = walk.stateOf(REP_TPL)!;
    expect(after).toMatchObject({ id: before.id, verify: true, in_sync: true, copied_bytes: before.copied_bytes, disk_path: before.disk_path });
    expect((await t.client.replicas.get(before.id as string))?.last_run.kind).toBe("create");
  });

  test("drift: a copied layer removed on the target shows as in_sync going back to true, and the apply copies only that layer", async () => {
    const top = walk.stateOf(REP_TOP)!;
    const topChain = top.chain as ChainLayer[];
    const engineBefore = (await t.client.replicas.get(top.id as string))!;
    const midCopy = engineBefore.last_run.copied.find((c) => c.position === 1)!;
    expect(midCopy.target_path).toBe(topChain[1].path);
    expect(topChain[1].path.startsWith(path.join(t.dir, "dst", "clonefleet", "replicas") + path.sep)).toBe(true);
    await fs.rm(topChain[1].path);

    const plan = await walk.plan(config());
    expect(actions(plan)).toEqual({
      [SRC]: "no-op",
      [DST]: "no-op",
      [ALT]: "no-op",
      [TPL]: "no-op",
      [REP_TPL]: "no-op",
      [REP_BASE]: "no-op",
      [REP_TOP]: "update",
    });
    const c = change(plan, REP_TOP);
    expect(c.requiresReplace).toEqual([]);
    expect(c.prior.getAttr("in_sync").asBool()).toBe(false);
    expect(c.planned.getAttr("in_sync").asBool()).toBe(true);
    expect(c.planned.getAttr("id").asString()).toBe(top.id);
    expect(c.planned.getAttr("copied_bytes").isKnown()).toBe(false);
    expect((await t.client.replicas.get(top.id as string))?.state).toBe("drifted");

    await walk.apply(plan);
    const engineAfter = (await t.client.replicas.get(top.id as string))!;
    expect(engineAfter.state).toBe("ready");
    expect(engineAfter.last_run).toMatchObject({ kind: "repair", verified: true });
    expect(engineAfter.last_run.copied.map((x) => [x.position, x.bytes])).toEqual([[1, midCopy.bytes]]);
    expect(engineAfter.copied_bytes).toBe(engineBefore.copied_bytes + midCopy.bytes);
    const repaired = walk.stateOf(REP_TOP)!;
    expect(repaired).toMatchObject({ id: top.id, in_sync: true, copied_bytes: (top.copied_bytes as number) + midCopy.bytes, disk_path: top.disk_path, chain: topChain });
    await fs.access(topChain[1].path);
    expect(await sameContent(chain.top, top.disk_path as string)).toBe(true);
    expect(new Set(Object.values(actions(await walk.plan(config()))))).toEqual(new Set(["no-op"]));
  });

  test("drift: a layer changed on the target shows on every replica relying on it; the apply copies it once", async () => {
    const baseReplica = walk.stateOf(REP_BASE)!;
    const top = walk.stateOf(REP_TOP)!;
    // Grown outside clonefleet: still a qcow2 file with the same catalog entry, but not the layer that was copied.
    await run("qemu-img", ["resize", "-q", "-f", "qcow2", baseReplica.disk_path as string, "+1M"]);
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [REP_TPL]: "no-op", [REP_BASE]: "update", [REP_TOP]: "update" });
    for (const address of [REP_BASE, REP_TOP]) expect(change(plan, address).prior.getAttr("in_sync").asBool()).toBe(false);
    expect((await t.client.replicas.get(top.id as string))!.drift).toEqual([
      expect.objectContaining({ position: 2, path: baseReplica.disk_path, reason: expect.stringMatching(/virtual size/) }),
    ]);

    await walk.apply(plan);
    // The base's own replica copies its layer again; the chain then finds it sound and copies nothing.
    expect(walk.stateOf(REP_BASE)).toMatchObject({ in_sync: true, disk_path: baseReplica.disk_path, copied_bytes: 2 * (baseReplica.copied_bytes as number) });
    expect(walk.stateOf(REP_TOP)).toMatchObject({ in_sync: true, copied_bytes: top.copied_bytes, reused_layers: top.reused_layers, chain: top.chain });
    expect((await t.client.replicas.get(top.id as string))!.last_run).toMatchObject({ kind: "repair", copied: [], bytes_copied: 0 });
    expect(await sameContent(chain.top, top.disk_path as string)).toBe(true);
    expect(new Set(Object.values(actions(await walk.plan(config()))))).toEqual(new Set(["no-op"]));
  });

  test("drift: a replica deleted outside Terraform is planned again and recreated", async () => {
    const gone = walk.stateOf(REP_TOP)!.id as string;
    await t.client.replicas.delete(gone);
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [REP_TPL]: "no-op", [REP_TOP]: "create" });
    await walk.apply(plan);
    const again = walk.stateOf(REP_TOP)!;
    expect(again.id).not.toBe(gone);
    expect(again).toMatchObject({ in_sync: true, layers_copied: 2, layers_reused: 1, reused_layers: [{ path: walk.stateOf(REP_BASE)!.disk_path }] });
    expect((await t.client.replicas.list()).map((r) => r.id).sort()).toEqual([walk.stateOf(REP_TPL)!.id, walk.stateOf(REP_BASE)!.id, again.id].sort());
  });

  test("a new target datastore replaces the replica", async () => {
    const before = walk.stateOf(REP_TOP)!;
    declared.top.target = "alt";
    const plan = await walk.plan(config());
    expect(actions(plan)).toMatchObject({ [REP_TPL]: "no-op", [REP_BASE]: "no-op", [REP_TOP]: "replace" });
    expect(change(plan, REP_TOP).requiresReplace).toEqual([[{ attribute: "target_datastore_id" }]]);
    await walk.apply(plan);
    const after = walk.stateOf(REP_TOP)!;
    expect(after.id).not.toBe(before.id);
    // Nothing of the chain is on the new target: all three layers are copied.
    expect(after).toMatchObject({ target_datastore_id: ids.alt, layers_copied: 3, layers_reused: 0, reused_layers: [] });
    expect(await t.client.replicas.get(before.id as string)).toBeNull();
    expect(await filesUnder(path.join(t.dir, "dst", "clonefleet", "replicas", before.id as string))).toEqual([]);
    expect(await sameContent(chain.top, after.disk_path as string)).toBe(true);
  });

  test("engine refusals reach the user naming the attribute, and nothing enters state", async () => {
    const other = new TerraformWalk(launch());
    const same = await other
      .applyConfig({ provider: provider(), resources: { "clonefleet_replica.same": { source_disk_path: chain.top, target_datastore_id: ids.hand } } })
      .catch((e: unknown) => e);
    expect(same).toBeInstanceOf(DiagnosticsError);
    const diag = (same as DiagnosticsError).diagnostics[0];
    expect(diag.summary).toBe("Cannot create clonefleet_replica");
    expect(diagnosticField(diag)).toBe("target_datastore_id");
    expect(diag.detail).toMatch(/already holds the source disk/);
    const unknownTpl = await other
      .applyConfig({ provider: provider(), resources: { "clonefleet_replica.unknown": { template_id: "tpl-0000000000000000", target_datastore_id: ids.dst } } })
      .catch((e: unknown) => e);
    expect((unknownTpl as DiagnosticsError).diagnostics.map(diagnosticField)).toEqual(["template_id"]);
    expect(other.state.size).toBe(0);
    expect(await t.client.replicas.list()).toHaveLength(3);
  });

  test("destroy removes every replica and its copied layers", async () => {
    const plan = await walk.destroy(config());
    expect(new Set(Object.values(actions(plan)))).toEqual(new Set(["delete"]));
    expect(await t.client.replicas.list()).toEqual([]);
    expect(await t.client.templates.list()).toEqual([]);
    // Only the datastore filled by hand, which Terraform never managed, is left.
    expect((await t.client.datastores.list()).map((d) => d.id)).toEqual([ids.hand]);
    for (const ds of ["dst", "alt"]) expect(await filesUnder(path.join(t.dir, ds, "clonefleet", "replicas"))).toEqual([]);
    for (const err of walk.stderr) expect(err).not.toContain(t.engine.token!);
  });
});
