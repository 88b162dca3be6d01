import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DiskLayer, Fleet, Pool, Vm } from "../model";
import { StoreConstraintError, openSqliteStore, type SqliteStore } from ".";
import { vmRecord } from "../../test/support/inventory-records";

let dir: string;
let s: SqliteStore;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-clones-"));
  s = openSqliteStore(path.join(dir, "inventory.db"));
  s.tx(() => {
    s.insertDatastore({ id: "ds-1", name: "one", path: "/srv/ds1", createdAt: "2025-01-01T00:00:00.000Z" });
    s.insertDatastore({ id: "ds-2", name: "two", path: "/srv/ds2", createdAt: "2025-01-01T00:00:00.000Z" });
    s.insertLayer(layer({ id: "layer-t", ownerKind: "template", ownerId: "tpl-1", path: "/srv/ds1/clonefleet/templates/tpl-1/disk.qcow2" }));
    s.insertTemplate({
      id: "tpl-1",
      name: "base",
      datastoreId: "ds-1",
      diskLayerId: "layer-t",
      memoryMb: 256,
      vcpus: 1,
      sourcePath: "/images/base.raw",
      kernelSource: null,
      initrdSource: null,
      kernel: null,
      initrd: null,
      cmdline: null,
      state: "ready",
      createdAt: "2025-01-01T00:00:00.000Z",
    });
  });
});

afterEach(() => {
  s.close();
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
  ...over,
});

const vm = (over: Partial<Vm> = {}): Vm =>
  vmRecord({ diskLayerId: "layer-1", homeDir: "/srv/ds1/clonefleet/vms/vm-1", fleetId: "fleet-1", createdAt: "2025-01-01T00:00:04.000Z", ...over });

function constraint(fn: () => void): StoreConstraintError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreConstraintError);
    return err as StoreConstraintError;
  }
  throw new Error("expected a StoreConstraintError");
}

test("pools: round trip, one per template and datastore, patches and filters", () => {
  s.insertPool(pool());
  s.insertPool(pool({ id: "pool-2", datastoreId: "ds-2" }));
  expect(s.getPool("pool-1")).toEqual(pool());
  expect(s.findPool("tpl-1", "ds-2")?.id).toBe("pool-2");
  expect(s.findPool("tpl-1", "nope")).toBeNull();
  expect(s.listPools().map((p) => p.id)).toEqual(["pool-1", "pool-2"]);
  expect(s.listPools({ datastoreId: "ds-2" }).map((p) => p.id)).toEqual(["pool-2"]);
  expect(s.listPools({ templateId: "other" })).toEqual([]);
  expect(constraint(() => s.insertPool(pool({ id: "pool-3" }))).column).toBe("template_id, datastore_id");
  expect(constraint(() => s.insertPool(pool({ id: "pool-4", templateId: "tpl-x", datastoreId: "ds-2" }))).column).toBe("template_id");

  const lastError = { code: "CF_NO_SPACE", message: "full", at: "2025-01-01T00:00:09.000Z" };
  s.updatePool("pool-1", { size: 5, lastError, failures: 2, retryAt: "2025-01-01T00:01:00.000Z" });
  expect(s.getPool("pool-1")).toEqual(pool({ size: 5, lastError, failures: 2, retryAt: "2025-01-01T00:01:00.000Z" }));
  s.updatePool("pool-1", { lastError: null, retryAt: null });
  expect(s.getPool("pool-1")).toMatchObject({ lastError: null, retryAt: null, failures: 2 });
  s.deletePool("pool-2");
  expect(s.getPool("pool-2")).toBeNull();
});

test("pool copies: oldest first, need their layer and pool, and a layer moves to a VM with a new path and owner", () => {
  s.insertPool(pool());
  s.tx(() => {
    s.insertLayer(layer({ id: "layer-b", path: "/srv/ds1/clonefleet/pools/tpl-1/layer-b.qcow2" }));
    s.insertLayer(layer({ id: "layer-a", path: "/srv/ds1/clonefleet/pools/tpl-1/layer-a.qcow2" }));
    s.insertPoolCopy({ layerId: "layer-b", poolId: "pool-1", templateContentId: "cd".repeat(16), createdAt: "2025-01-01T00:00:05.000Z" });
    s.insertPoolCopy({ layerId: "layer-a", poolId: "pool-1", templateContentId: "cd".repeat(16), createdAt: "2025-01-01T00:00:06.000Z" });
  });
  expect(s.listPoolCopies("pool-1").map((c) => c.layerId)).toEqual(["layer-b", "layer-a"]);
  expect(constraint(() => s.insertPoolCopy({ layerId: "layer-zz", poolId: "pool-1", templateContentId: "x", createdAt: "t" })).column).toBe("layer_id");
  // A pool with copies cannot be deleted under them.
  expect(() => s.deletePool("pool-1")).toThrow(StoreConstraintError);

  s.tx(() => {
    s.deletePoolCopy("layer-b");
    s.transferLayer("layer-b", { path: "/srv/ds1/clonefleet/vms/vm-1/disk.qcow2", ownerKind: "vm", ownerId: "vm-1" });
  });
  expect(s.getLayer("layer-b")).toMatchObject({ path: "/srv/ds1/clonefleet/vms/vm-1/disk.qcow2", ownerKind: "vm", ownerId: "vm-1", contentId: "ab".repeat(16) });
  expect(s.listPoolCopies("pool-1").map((c) => c.layerId)).toEqual(["layer-a"]);
});

test("fleets and VMs: round trip, unique names and prefixes, filters and patches", () => {
  s.insertFleet(fleet());
  expect(s.getFleet("fleet-1")).toEqual(fleet());
  expect(s.findFleetByNamePrefix("web")?.id).toBe("fleet-1");
  expect(constraint(() => s.insertFleet(fleet({ id: "fleet-2" }))).column).toBe("name_prefix");
  s.updateFleet("fleet-1", { size: 5, datastoreIds: ["ds-2"], cloneMode: "full", updatedAt: "2025-01-02T00:00:00.000Z" });
  expect(s.getFleet("fleet-1")).toEqual(fleet({ size: 5, datastoreIds: ["ds-2"], cloneMode: "full", updatedAt: "2025-01-02T00:00:00.000Z" }));
  expect(s.listFleets({ templateId: "tpl-1" }).map((f) => f.id)).toEqual(["fleet-1"]);

  s.tx(() => {
    s.insertLayer(layer({ ownerKind: "vm", ownerId: "vm-1" }));
    s.insertVm(vm());
    s.insertLayer(layer({ id: "layer-2", path: "/srv/ds2/clonefleet/vms/vm-2/disk.qcow2", datastoreId: "ds-2", ownerKind: "vm", ownerId: "vm-2" }));
    s.insertVm(vm({ id: "vm-2", name: "solo", datastoreId: "ds-2", diskLayerId: "layer-2", homeDir: "/srv/ds2/clonefleet/vms/vm-2", fleetId: null, templateId: null, cloneMode: null, provisionedBy: "copy" }));
  });
  expect(s.getVm("vm-1")).toEqual(vm());
  expect(s.findVmByName("solo")?.id).toBe("vm-2");
  expect(s.getVm("vm-2")).toMatchObject({ templateId: null, cloneMode: null, fleetId: null });
  expect(s.listVms().map((v) => v.name)).toEqual(["solo", "web-1"]);
  expect(s.listVms({ fleetId: "fleet-1" }).map((v) => v.id)).toEqual(["vm-1"]);
  expect(s.listVms({ datastoreId: "ds-2" }).map((v) => v.id)).toEqual(["vm-2"]);
  expect(s.listVms({ templateId: "tpl-1", fleetId: "fleet-1" }).map((v) => v.id)).toEqual(["vm-1"]);
  expect(constraint(() => s.insertVm(vm({ id: "vm-3", homeDir: "/x", diskLayerId: "layer-t" }))).column).toBe("name");
  expect(constraint(() => s.insertVm(vm({ id: "vm-4", name: "other", homeDir: "/y" }))).column).toBe("disk_layer_id");

  s.updateVm("vm-1", { state: "drifted" });
  expect(s.getVm("vm-1")?.state).toBe("drifted");
  // A fleet with members and a layer under a VM cannot be deleted first.
  expect(() => s.deleteFleet("fleet-1")).toThrow(StoreConstraintError);
  expect(() => s.deleteLayer("layer-1")).toThrow(StoreConstraintError);
  s.tx(() => {
    s.deleteVm("vm-1");
    s.deleteLayer("layer-1");
    s.deleteFleet("fleet-1");
  });
  expect(s.getFleet("fleet-1")).toBeNull();
  expect(s.getVm("vm-1")).toBeNull();
});

test("VM runtime columns (migration 4) round-trip and patch", () => {
  s.tx(() => {
    s.insertLayer(layer({ id: "layer-1", ownerKind: "vm", ownerId: "vm-1", path: "/srv/ds1/clonefleet/vms/vm-1/disk.qcow2" }));
    s.insertVm(vm({ fleetId: null, forkedFrom: "vm-0", machine: { memoryMb: 64, vcpus: 1, kernel: null, initrd: null, cmdline: null }, accelOverride: "tcg" }));
  });
  s.tx(() => s.updateVm("vm-1", { powerState: "running", pid: 42, accel: "tcg", stateDir: "/state/vms/vm-1", stunMs: 12.5, crashed: true, stopTimeoutSeconds: 2 }));
  expect(s.getVm("vm-1")).toMatchObject({
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

test("hosts (S6): upsert keeps the creation time, patches status, VMs carry their host and migration policy", () => {
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
  };
  s.upsertHost(host);
  s.upsertHost({ ...host, apiUrl: "http://127.0.0.1:7422", pid: 4343, createdAt: "2030-01-01T00:00:00.000Z" });
  expect(s.getHost("b")).toEqual({ ...host, apiUrl: "http://127.0.0.1:7422", pid: 4343 });
  s.updateHost("b", { status: "down", downReason: "stopped" });
  expect(s.listHosts().map((h) => [h.id, h.status, h.downReason])).toEqual([["b", "down", "stopped"]]);
  expect(s.getHost("nope")).toBeNull();

  s.tx(() => {
    s.insertLayer(layer({ ownerKind: "vm", ownerId: "vm-1" }));
    s.insertVm(vm({ fleetId: null, hostId: "b", migrationNotifyTimeoutSeconds: 30, migrationOnMissingAck: "abort" }));
  });
  expect(s.getVm("vm-1")).toMatchObject({ hostId: "b", migrationNotifyTimeoutSeconds: 30, migrationOnMissingAck: "abort" });
  s.updateVm("vm-1", { hostId: "local", migrationNotifyTimeoutSeconds: 0 });
  expect(s.getVm("vm-1")).toMatchObject({ hostId: "local", migrationNotifyTimeoutSeconds: 0, migrationOnMissingAck: "abort" });
});
