import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DiskLayer, Fleet, Pool, Vm } from "../model";
import { openInventory, StoreConstraintError, type Inventory } from ".";
import { templateRecord, vmRecord } from "../../test/support/inventory-records";

let dir: string;
let s: Inventory;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-clones-"));
  s = await openInventory(path.join(dir, "inventory.db"));
  await s.tx(async (t) => {
    await t.datastores.insert({ id: "ds-1", name: "one", path: "/srv/ds1", createdAt: "2025-01-01T00:00:00.000Z", hostId: null });
    await t.datastores.insert({ id: "ds-2", name: "two", path: "/srv/ds2", createdAt: "2025-01-01T00:00:00.000Z", hostId: null });
    await t.layers.insert(layer({ id: "layer-t", ownerKind: "template", ownerId: "tpl-1", path: "/srv/ds1/clonefleet/templates/tpl-1/disk.qcow2" }));
    await t.templates.insert(templateRecord());
  });
});

afterEach(async () => {
  await s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function layer(over: Partial<DiskLayer> = {}): DiskLayer {
  return {
    id: "layer-1",
    datastoreId: "ds-1",
    path: "/srv/ds1/clonefleet/pools/tpl-1/layer-1.qcow2",
    format: "qcow2",
    virtualSizeBytes: 1024,
    contentId: "ab".repeat(16),
    parentContentId: null,
    backingPath: null,
    ownerKind: "pool",
    ownerId: "pool-1",
    state: "ready",
    createdAt: "2025-01-01T00:00:01.000Z",
    ...over,
  };
}

const pool = (over: Partial<Pool> = {}): Pool => ({
  id: "pool-1",
  templateId: "tpl-1",
  datastoreId: "ds-1",
  size: 3,
  lastError: null,
  failures: 0,
  retryAt: null,
  createdAt: "2025-01-01T00:00:02.000Z",
  ...over,
});

const fleet = (over: Partial<Fleet> = {}): Fleet => ({
  id: "fleet-1",
  namePrefix: "web",
  templateId: "tpl-1",
  size: 2,
  datastoreIds: ["ds-1", "ds-2"],
  cloneMode: "pool",
  powerState: "stopped",
  createdAt: "2025-01-01T00:00:03.000Z",
  updatedAt: "2025-01-01T00:00:03.000Z",
  hostIds: null,
  ...over,
});

const vm = (over: Partial<Vm> = {}): Vm =>
  vmRecord({ diskLayerId: "layer-1", homeDir: "/srv/ds1/clonefleet/vms/vm-1", fleetId: "fleet-1", createdAt: "2025-01-01T00:00:04.000Z", ...over });

async function constraint(fn: () => Promise<void>): Promise<StoreConstraintError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreConstraintError);
    return err as StoreConstraintError;
  }
  throw new Error("expected a StoreConstraintError");
}

test("pools: round trip, one per template and datastore, patches and filters", async () => {
  await s.pools.insert(pool());
  await s.pools.insert(pool({ id: "pool-2", datastoreId: "ds-2" }));
  expect(await s.pools.get("pool-1")).toEqual(pool());
  expect((await s.pools.find("tpl-1", "ds-2"))?.id).toBe("pool-2");
  expect(await s.pools.find("tpl-1", "nope")).toBeNull();
  expect((await s.pools.list()).map((p) => p.id)).toEqual(["pool-1", "pool-2"]);
  expect((await s.pools.list({ datastoreId: "ds-2" })).map((p) => p.id)).toEqual(["pool-2"]);
  expect(await s.pools.list({ templateId: "other" })).toEqual([]);
  expect((await constraint(async () => await s.pools.insert(pool({ id: "pool-3" })))).column).toBe("template_id, datastore_id");
  expect((await constraint(async () => await s.pools.insert(pool({ id: "pool-4", templateId: "tpl-x", datastoreId: "ds-2" })))).column).toBe("template_id");

  const lastError = { code: "CF_NO_SPACE", message: "full", at: "2025-01-01T00:00:09.000Z" };
  await s.pools.update("pool-1", { size: 5, lastError, failures: 2, retryAt: "2025-01-01T00:01:00.000Z" });
  expect(await s.pools.get("pool-1")).toEqual(pool({ size: 5, lastError, failures: 2, retryAt: "2025-01-01T00:01:00.000Z" }));
  await s.pools.update("pool-1", { lastError: null, retryAt: null });
  expect(await s.pools.get("pool-1")).toMatchObject({ lastError: null, retryAt: null, failures: 2 });
  await s.pools.delete("pool-2");
  expect(await s.pools.get("pool-2")).toBeNull();
});

test("pool copies: oldest first, need their layer and pool, and a layer moves to a VM with a new path and owner", async () => {
  await s.pools.insert(pool());
  await s.tx(async (t) => {
    await t.layers.insert(layer({ id: "layer-b", path: "/srv/ds1/clonefleet/pools/tpl-1/layer-b.qcow2" }));
    await t.layers.insert(layer({ id: "layer-a", path: "/srv/ds1/clonefleet/pools/tpl-1/layer-a.qcow2" }));
    await t.pools.insertCopy({ layerId: "layer-b", poolId: "pool-1", templateContentId: "cd".repeat(16), createdAt: "2025-01-01T00:00:05.000Z" });
    await t.pools.insertCopy({ layerId: "layer-a", poolId: "pool-1", templateContentId: "cd".repeat(16), createdAt: "2025-01-01T00:00:06.000Z" });
  });
  expect((await s.pools.listCopies("pool-1")).map((c) => c.layerId)).toEqual(["layer-b", "layer-a"]);
  expect((await constraint(async () => await s.pools.insertCopy({ layerId: "layer-zz", poolId: "pool-1", templateContentId: "x", createdAt: "t" }))).column).toBe("layer_id");
  // A pool with copies cannot be deleted under them.
  await expect(s.pools.delete("pool-1")).rejects.toThrow(StoreConstraintError);

  await s.tx(async (t) => {
    await t.pools.deleteCopy("layer-b");
    await t.layers.transfer("layer-b", { path: "/srv/ds1/clonefleet/vms/vm-1/disk.qcow2", ownerKind: "vm", ownerId: "vm-1" });
  });
  expect(await s.layers.get("layer-b")).toMatchObject({ path: "/srv/ds1/clonefleet/vms/vm-1/disk.qcow2", ownerKind: "vm", ownerId: "vm-1", contentId: "ab".repeat(16) });
  expect((await s.pools.listCopies("pool-1")).map((c) => c.layerId)).toEqual(["layer-a"]);
});

test("fleets and VMs: round trip, unique names and prefixes, filters and patches", async () => {
  await s.fleets.insert(fleet());
  expect(await s.fleets.get("fleet-1")).toEqual(fleet());
  expect((await s.fleets.findByNamePrefix("web"))?.id).toBe("fleet-1");
  expect((await constraint(async () => await s.fleets.insert(fleet({ id: "fleet-2" })))).column).toBe("name_prefix");
  await s.fleets.update("fleet-1", { size: 5, datastoreIds: ["ds-2"], cloneMode: "full", updatedAt: "2025-01-02T00:00:00.000Z" });
  expect(await s.fleets.get("fleet-1")).toEqual(fleet({ size: 5, datastoreIds: ["ds-2"], cloneMode: "full", updatedAt: "2025-01-02T00:00:00.000Z" }));
  expect((await s.fleets.list({ templateId: "tpl-1" })).map((f) => f.id)).toEqual(["fleet-1"]);

  await s.tx(async (t) => {
    await t.layers.insert(layer({ ownerKind: "vm", ownerId: "vm-1" }));
    await t.vms.insert(vm());
    await t.layers.insert(layer({ id: "layer-2", path: "/srv/ds2/clonefleet/vms/vm-2/disk.qcow2", datastoreId: "ds-2", ownerKind: "vm", ownerId: "vm-2" }));
    await t.vms.insert(vm({ id: "vm-2", name: "solo", datastoreId: "ds-2", diskLayerId: "layer-2", homeDir: "/srv/ds2/clonefleet/vms/vm-2", fleetId: null, templateId: null, cloneMode: null, provisionedBy: "copy" }));
  });
  expect(await s.vms.get("vm-1")).toEqual(vm());
  expect((await s.vms.findByName("solo"))?.id).toBe("vm-2");
  expect(await s.vms.get("vm-2")).toMatchObject({ templateId: null, cloneMode: null, fleetId: null });
  expect((await s.vms.list()).map((v) => v.name)).toEqual(["solo", "web-1"]);
  expect((await s.vms.list({ fleetId: "fleet-1" })).map((v) => v.id)).toEqual(["vm-1"]);
  expect((await s.vms.list({ datastoreId: "ds-2" })).map((v) => v.id)).toEqual(["vm-2"]);
  expect((await s.vms.list({ templateId: "tpl-1", fleetId: "fleet-1" })).map((v) => v.id)).toEqual(["vm-1"]);
  expect((await constraint(async () => await s.vms.insert(vm({ id: "vm-3", homeDir: "/x", diskLayerId: "layer-t" })))).column).toBe("name");
  expect((await constraint(async () => await s.vms.insert(vm({ id: "vm-4", name: "other", homeDir: "/y" })))).column).toBe("disk_layer_id");

  await s.vms.update("vm-1", { state: "drifted" });
  expect((await s.vms.get("vm-1"))?.state).toBe("drifted");
  // A fleet with members and a layer under a VM cannot be deleted first.
  await expect(s.fleets.delete("fleet-1")).rejects.toThrow(StoreConstraintError);
  await expect(s.layers.delete("layer-1")).rejects.toThrow(StoreConstraintError);
  await s.tx(async (t) => {
    await t.vms.delete("vm-1");
    await t.layers.delete("layer-1");
    await t.fleets.delete("fleet-1");
  });
  expect(await s.fleets.get("fleet-1")).toBeNull();
  expect(await s.vms.get("vm-1")).toBeNull();
});

test("VM runtime columns (migration 4) round-trip and patch", async () => {
  await s.tx(async (t) => {
    await t.layers.insert(layer({ id: "layer-1", ownerKind: "vm", ownerId: "vm-1", path: "/srv/ds1/clonefleet/vms/vm-1/disk.qcow2" }));
    await t.vms.insert(vm({ fleetId: null, forkedFrom: "vm-0", machine: { memoryMb: 64, vcpus: 1, kernel: null, initrd: null, cmdline: null }, accelOverride: "tcg" }));
  });
  await s.tx(async (t) => await t.vms.update("vm-1", { powerState: "running", pid: 42, accel: "tcg", stateDir: "/state/vms/vm-1", stunMs: 12.5, crashed: true, stopTimeoutSeconds: 2 }));
  expect(await s.vms.get("vm-1")).toMatchObject({
    stopTimeoutSeconds: 2,
    powerState: "running",
    pid: 42,
    accel: "tcg",
    accelOverride: "tcg",
    stateDir: "/state/vms/vm-1",
    forkedFrom: "vm-0",
    stunMs: 12.5,
    crashed: true,
    machine: { memoryMb: 64, vcpus: 1 },
  });
});

test("hosts (S6): upsert keeps the creation time, patches status, VMs carry their host and migration policy", async () => {
  const host = {
    id: "b",
    name: "b",
    apiUrl: "http://127.0.0.1:7421",
    pid: 4242,
    stateDir: "/var/lib/clonefleet",
    vmStateRoot: "/var/lib/clonefleet/hosts/b/vms",
    lastHeartbeatAt: "2025-01-01T00:00:05.000Z",
    status: "up" as const,
    downReason: null,
    startedAt: "2025-01-01T00:00:05.000Z",
    createdAt: "2025-01-01T00:00:05.000Z",
    tokenHash: null,
  };
  await s.hosts.upsert(host);
  await s.hosts.upsert({ ...host, apiUrl: "http://127.0.0.1:7422", pid: 4343, createdAt: "2030-01-01T00:00:00.000Z" });
  expect(await s.hosts.get("b")).toEqual({ ...host, apiUrl: "http://127.0.0.1:7422", pid: 4343 });
  await s.hosts.update("b", { status: "down", downReason: "stopped" });
  expect((await s.hosts.list()).map((h) => [h.id, h.status, h.downReason])).toEqual([["b", "down", "stopped"]]);
  expect(await s.hosts.get("nope")).toBeNull();

  await s.tx(async (t) => {
    await t.layers.insert(layer({ ownerKind: "vm", ownerId: "vm-1" }));
    await t.vms.insert(vm({ fleetId: null, hostId: "b", migrationNotifyTimeoutSeconds: 30, migrationOnMissingAck: "abort" }));
  });
  expect(await s.vms.get("vm-1")).toMatchObject({ hostId: "b", migrationNotifyTimeoutSeconds: 30, migrationOnMissingAck: "abort" });
  await s.vms.update("vm-1", { hostId: "local", migrationNotifyTimeoutSeconds: 0 });
  expect(await s.vms.get("vm-1")).toMatchObject({ hostId: "local", migrationNotifyTimeoutSeconds: 0, migrationOnMissingAck: "abort" });
});
