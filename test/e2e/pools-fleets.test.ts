import { promises as fs } from "node:fs";
import * as path from "node:path";
import { compare } from "../../engine/disk";
import { readCatalog } from "../../engine/disk";
import type { FleetApplyWire, FleetBody, PoolWire, TemplateWire, VmWire } from "../../engine/client";
import { startTestEngine, type TestEngine } from "../support/engine";
import {
  apiError,
  eventually,
  expectOneOwnerPerFile,
  importTemplate,
  inodeOf,
  isStandaloneSoundQcow2,
  makeDataImage,
} from "../support/clones";

describe("disk pools and clone fleets (S1)", () => {
  let t: TestEngine;
  let dsA: string;
  let dsB: string;
  let pathA: string;
  let pathB: string;
  let tpl: TemplateWire;
  let source: string;
  let poolA: PoolWire;
  let poolB: PoolWire;
  let fleetId: string;

  const apply = async (body: FleetBody, id?: string): Promise<FleetApplyWire> => {
    const job = id ? await t.client.fleets.update(id, body) : await t.client.fleets.create(body);
    return (await t.client.waitJob(job.id, { timeoutMs: 60_000 })).result as FleetApplyWire;
  };
  const spec = (size: number): FleetBody => ({ template_id: tpl.id, size, datastore_ids: [dsA, dsB], name_prefix: "web" });

  beforeAll(async () => {
    t = await startTestEngine();
    pathA = path.join(t.dir, "ds-a");
    pathB = path.join(t.dir, "ds-b");
    dsA = (await t.client.datastores.create({ name: "a", path: pathA })).id;
    dsB = (await t.client.datastores.create({ name: "b", path: pathB })).id;
    source = await makeDataImage(path.join(t.dir, "src.raw"), 32, 8);
    tpl = await importTemplate(t.client, "base", dsA, source);
  });
  afterAll(() => t.stop());

  it("fills a pool on each datastore in the background with standalone copies made from the template's content", async () => {
    poolA = await t.client.pools.create({ template_id: tpl.id, datastore_id: dsA, size: 3 });
    poolB = await t.client.pools.create({ template_id: tpl.id, datastore_id: dsB, size: 3 });
    expect(poolA).toMatchObject({ size: 3, host_id: "local", template_content_id: tpl.content_id });
    const seen: PoolWire[] = [];
    poolA = await t.client.waitPoolReady(poolA.id, { timeoutMs: 30_000, onProgress: (p) => seen.push(p) });
    poolB = await t.client.waitPoolReady(poolB.id, { timeoutMs: 30_000 });
    expect(seen.some((p) => p.fills.length > 0 || p.ready > 0)).toBe(true);
    for (const p of [poolA, poolB]) {
      expect(p).toMatchObject({ ready: 3, state: "ready", last_error: null });
      for (const c of p.copies) {
        expect(c.template_content_id).toBe(tpl.content_id);
        expect(c.content_id).not.toBe(tpl.content_id);
        expect(path.dirname(c.path)).toBe(path.join(p.datastore_id === dsA ? pathA : pathB, "clonefleet", "pools", tpl.id));
        expect(await isStandaloneSoundQcow2(c.path)).toBe(true);
        expect((await compare(source, c.path)).identical).toBe(true);
      }
    }
    // The catalog lists each copy with its content ID.
    const catalog = await readCatalog(pathB);
    expect(catalog.map((e) => e.contentId).sort()).toEqual(poolB.copies.map((c) => c.content_id).sort());
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);
  });

  it("a fleet of 8 moves the 6 ready copies into clones' homes and copies only the rest", async () => {
    const copyFiles = new Map<string, string>();
    for (const c of [...poolA.copies, ...poolB.copies]) copyFiles.set(await inodeOf(c.path), c.content_id);

    const result = await apply(spec(8));
    fleetId = result.fleet.id;
    expect(result.added).toHaveLength(8);
    const by = (how: string) => result.added.filter((a) => a.provisioned_by === how);
    expect(by("pool")).toHaveLength(6);
    expect(by("copy")).toHaveLength(2);
    expect(result.fleet).toMatchObject({ size: 8, members_ready: 8, state: "ready", name_prefix: "web", clone_mode: "pool" });
    expect(result.fleet.vms.map((v) => v.name)).toEqual(["web-1", "web-2", "web-3", "web-4", "web-5", "web-6", "web-7", "web-8"]);
    // Spread: 4 and 4.
    expect(result.fleet.vms.filter((v) => v.datastore_id === dsA)).toHaveLength(4);

    const inodes = new Set<string>();
    for (const a of result.added) {
      const vm = (await t.client.vms.get(a.id)) as VmWire;
      expect(vm).toMatchObject({ fleet_id: fleetId, chain_depth: 1, state: "ready", power_state: "stopped", provisioned_by: a.provisioned_by });
      expect(vm.disk_path).toBe(path.join(a.datastore_id === dsA ? pathA : pathB, "clonefleet", "vms", a.id, "disk.qcow2"));
      const ino = await inodeOf(vm.disk_path);
      inodes.add(ino);
      // A pool clone's disk is the very file that was in the pool (a rename), with its content ID.
      if (a.provisioned_by === "pool") expect(copyFiles.get(ino)).toBe(vm.content_id);
      else expect(copyFiles.has(ino)).toBe(false);
      expect(await isStandaloneSoundQcow2(vm.disk_path)).toBe(true);
    }
    expect(inodes.size).toBe(8);
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);

    // The pools refill afterwards.
    poolA = await t.client.waitPoolReady(poolA.id, { timeoutMs: 30_000 });
    poolB = await t.client.waitPoolReady(poolB.id, { timeoutMs: 30_000 });
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);
  });

  it("shrinking removes the newest members; growing adds", async () => {
    const shrunk = await apply(spec(5), fleetId);
    expect(shrunk.removed.map((r) => r.name).sort()).toEqual(["web-6", "web-7", "web-8"]);
    expect(shrunk.added).toEqual([]);
    expect(shrunk.fleet.vms.map((v) => v.name)).toEqual(["web-1", "web-2", "web-3", "web-4", "web-5"]);
    for (const r of shrunk.removed) expect(await t.client.vms.get(r.id)).toBeNull();

    const grown = await apply(spec(7), fleetId);
    expect(grown.added.map((a) => a.name)).toEqual(["web-6", "web-7"]);
    expect(grown.added.every((a) => a.provisioned_by === "pool")).toBe(true);
    expect(grown.fleet).toMatchObject({ size: 7, members_ready: 7, state: "ready" });
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);
  });

  it("a member whose disk was removed outside shows as drift and the next apply makes it again", async () => {
    const before = (await t.client.fleets.get(fleetId))!;
    const victim = before.vms[2];
    await fs.rm(path.dirname(victim.disk_path), { recursive: true });
    const drifted = (await t.client.fleets.get(fleetId))!;
    expect(drifted.state).toBe("drifted");
    expect(drifted.members_ready).toBe(6);
    expect(drifted.vms.find((v) => v.id === victim.id)?.state).toBe("drifted");
    expect((await t.client.vms.get(victim.id))?.state).toBe("drifted");

    const repaired = await apply(spec(7), fleetId);
    expect(repaired.replaced).toEqual([{ id: victim.id, name: victim.name }]);
    expect(repaired.added.map((a) => a.name)).toEqual([victim.name]);
    expect(repaired.fleet).toMatchObject({ state: "ready", members_ready: 7 });
    expect(await t.client.vms.get(victim.id)).toBeNull();
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);
  });

  it("single VMs: pool (default), full and linked clone modes", async () => {
    await t.client.waitPoolReady(poolB.id, { timeoutMs: 30_000 });
    const create = async (name: string, extra: object) =>
      (await t.client.waitJob((await t.client.vms.create({ name, template_id: tpl.id, ...extra })).id)).result as VmWire;
    const pooled = await create("solo-pool", { datastore_id: dsB });
    expect(pooled).toMatchObject({ provisioned_by: "pool", clone_mode: "pool", chain_depth: 1, datastore_id: dsB, fleet_id: null });
    const full = await create("solo-full", { clone_mode: "full", datastore_id: dsB });
    expect(full).toMatchObject({ provisioned_by: "copy", clone_mode: "full", chain_depth: 1 });
    expect(await isStandaloneSoundQcow2(full.disk_path)).toBe(true);
    const linked = await create("solo-linked", { clone_mode: "linked" });
    expect(linked).toMatchObject({ provisioned_by: "linked", datastore_id: dsA, chain_depth: 2, disk_chain: [linked.disk_path, tpl.disk_path] });
    expect((await compare(source, linked.disk_path)).identical).toBe(true);
    const chain = await t.client.disks.chain(linked.disk_path);
    expect(chain.layers[0]).toMatchObject({ parent_content_id: tpl.content_id, owner_kind: "vm", owner_id: linked.id });

    // The template cannot go while a linked clone, pools or fleets use it.
    expect((await apiError(t.client.templates.delete(tpl.id))).status).toBe(409);
    // A fleet member is removed by resizing its fleet, not one by one.
    const member = (await t.client.fleets.get(fleetId))!.vms[0];
    expect((await apiError(t.client.vms.delete(member.id))).status).toBe(409);

    for (const v of [pooled, full, linked]) {
      await t.client.vms.delete(v.id);
      expect(await t.client.vms.get(v.id)).toBeNull();
      await expect(fs.access(path.dirname(v.disk_path))).rejects.toThrow();
    }
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);
  });

  it("a pool copy made from an older template content ID is discarded and replaced, never handed out", async () => {
    poolA = await t.client.waitPoolReady(poolA.id, { timeoutMs: 30_000 });
    const oldCopies = new Set(poolA.copies.map((c) => c.path));
    // The template's content changes (as a write to it would renew its content ID).
    const newContentId = "c0ffee00".repeat(4);
    await t.engine.store.tx(async (s) => await s.layers.update((await s.layers.findByPath(tpl.disk_path))!.id, { contentId: newContentId }));
    // A clone asked for right now gets a copy, not a stale pool disk.
    const job = await t.client.vms.create({ name: "after-change", template_id: tpl.id, datastore_id: dsA });
    const vm = (await t.client.waitJob(job.id)).result as VmWire;
    expect(oldCopies.has(vm.disk_path)).toBe(false);
    if (vm.provisioned_by === "pool") {
      const chainOwner = await t.client.disks.chain(vm.disk_path);
      expect(chainOwner.layers[0].owner_id).toBe(vm.id);
    }
    const refilled = await eventually(async () => {
      const p = (await t.client.pools.get(poolA.id))!;
      return p.ready === 3 && p.copies.every((c) => c.template_content_id === newContentId) ? p : null;
    }, 30_000, "pool A to refill from the new content");
    for (const c of refilled.copies) expect(oldCopies.has(c.path)).toBe(false);
    for (const old of oldCopies) await expect(fs.access(old)).rejects.toThrow();
    await t.client.vms.delete(vm.id);
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);
  });

  it("deletes a fleet with its members and a pool with its copies", async () => {
    const fleet = (await t.client.fleets.get(fleetId))!;
    await t.client.fleets.delete(fleetId);
    expect(await t.client.fleets.get(fleetId)).toBeNull();
    for (const v of fleet.vms) expect(await t.client.vms.get(v.id)).toBeNull();
    const pool = (await t.client.pools.get(poolB.id))!;
    await t.client.pools.delete(poolB.id);
    for (const c of pool.copies) await expect(fs.access(c.path)).rejects.toThrow();
    await t.client.pools.delete(poolA.id);
    expect(await t.client.pools.list()).toEqual([]);
    await t.client.templates.delete(tpl.id);
    await expectOneOwnerPerFile(t.client, [pathA, pathB]);
    expect(await readCatalog(pathA)).toEqual([]);
  });
});
