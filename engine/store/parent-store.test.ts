import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { InstantCloneParent, Vm } from "../model";
import { openSqliteStore, StoreConstraintError, type SqliteStore } from ".";

let dir: string;
let store: SqliteStore;
const at = "2025-01-01T00:00:00.000Z";

const parent = (id: string, name: string): InstantCloneParent => ({
  id,
  name,
  sourceVmId: "vm-src",
  datastoreId: "ds-1",
  diskLayerId: `layer-${id}`,
  ramPath: `/dev/shm/cf/${id}/ram`,
  ramLocation: "tmpfs",
  deviceStatePath: `/srv/a/clonefleet/parents/${id}/device.state`,
  memoryBytes: 64 << 20,
  machine: { memoryMb: 64, vcpus: 1, kernel: null, initrd: null, cmdline: null },
  machineType: "q35",
  accel: "tcg",
  qemuVersion: "7.2.22",
  state: "ready",
  warmCount: 0,
  createdAt: at,
});

const vm = (id: string, name: string, instantCloneOf: string | null): Vm => ({
  id,
  name,
  templateId: null,
  datastoreId: "ds-1",
  diskLayerId: `layer-${id}`,
  homeDir: `/srv/a/clonefleet/vms/${id}`,
  provisionedBy: instantCloneOf ? "instant-clone" : "copy",
  cloneMode: null,
  fleetId: null,
  powerState: "stopped",
  state: "ready",
  createdAt: at,
  instantCloneOf,
});

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-parent-store-"));
  store = openSqliteStore(path.join(dir, "inventory.db"));
  store.tx((s) => {
    s.insertDatastore({ id: "ds-1", name: "a", path: "/srv/a", createdAt: at });
    for (const id of ["vm-src", "vm-a", "vm-b", "p1"]) {
      s.insertLayer({ id: `layer-${id}`, datastoreId: "ds-1", path: `/srv/a/${id}.qcow2`, format: "qcow2", virtualSizeBytes: 1 << 20, contentId: "c".repeat(32), parentContentId: null, backingPath: null, ownerKind: "vm", ownerId: id, state: "ready", createdAt: at });
    }
  });
});

afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a parent round-trips, is found by name, changes state and goes", () => {
  store.tx((s) => s.insertParent(parent("p1", "base")));
  expect(store.getParent("p1")).toEqual(parent("p1", "base"));
  expect(store.findParentByName("base")?.id).toBe("p1");
  expect(store.listParents({ datastoreId: "ds-1" }).map((p) => p.id)).toEqual(["p1"]);
  store.tx((s) => s.updateParent("p1", { state: "drifted" }));
  expect(store.getParent("p1")?.state).toBe("drifted");
  store.tx((s) => s.deleteParent("p1"));
  expect(store.getParent("p1")).toBeNull();
  expect(store.listParents()).toEqual([]);
});

test("parent names and RAM files are unique", () => {
  store.tx((s) => s.insertParent(parent("p1", "base")));
  expect(() => store.tx((s) => s.insertParent({ ...parent("p2", "base"), diskLayerId: "layer-x" }))).toThrow(StoreConstraintError);
  expect(() => store.tx((s) => s.insertParent({ ...parent("p2", "other"), ramPath: parent("p1", "base").ramPath }))).toThrow(StoreConstraintError);
  expect(store.listParents()).toHaveLength(1);
});

test("VMs keep the parent they were instant-cloned from, and list by it", () => {
  store.tx((s) => {
    s.insertParent(parent("p1", "base"));
    s.insertVm(vm("vm-src", "src", null));
    s.insertVm(vm("vm-a", "kid-1", "p1"));
    s.insertVm(vm("vm-b", "kid-2", "p1"));
  });
  expect(store.getVm("vm-a")?.instantCloneOf).toBe("p1");
  expect(store.getVm("vm-src")?.instantCloneOf).toBeNull();
  expect(store.listVms({ instantCloneOf: "p1" }).map((v) => v.name)).toEqual(["kid-1", "kid-2"]);
  expect(store.listVms().map((v) => v.name)).toEqual(["kid-1", "kid-2", "src"]);
});
