import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { InstantCloneParent, Vm } from "../model";
import { openInventory, StoreConstraintError, type Inventory } from ".";

let dir: string;
let store: Inventory;
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

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-parent-store-"));
  store = await openInventory(path.join(dir, "inventory.db"));
  await store.tx(async (s) => {
    await s.datastores.insert({ id: "ds-1", name: "a", path: "/srv/a", createdAt: at, hostId: null });
    for (const id of ["vm-src", "vm-a", "vm-b", "p1"]) {
      await s.layers.insert({ id: `layer-${id}`, datastoreId: "ds-1", path: `/srv/a/${id}.qcow2`, format: "qcow2", virtualSizeBytes: 1 << 20, contentId: "c".repeat(32), parentContentId: null, backingPath: null, ownerKind: "vm", ownerId: id, state: "ready", createdAt: at });
    }
  });
});

afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a parent round-trips, is found by name, changes state and goes", async () => {
  await store.tx(async (s) => await s.parents.insert(parent("p1", "base")));
  expect(await store.parents.get("p1")).toEqual(parent("p1", "base"));
  expect((await store.parents.findByName("base"))?.id).toBe("p1");
  expect((await store.parents.list({ datastoreId: "ds-1" })).map((p) => p.id)).toEqual(["p1"]);
  await store.tx(async (s) => await s.parents.update("p1", { state: "drifted" }));
  expect((await store.parents.get("p1"))?.state).toBe("drifted");
  await store.tx(async (s) => await s.parents.delete("p1"));
  expect(await store.parents.get("p1")).toBeNull();
  expect(await store.parents.list()).toEqual([]);
});

test("parent names and RAM files are unique", async () => {
  await store.tx(async (s) => await s.parents.insert(parent("p1", "base")));
  await expect(store.tx(async (s) => await s.parents.insert({ ...parent("p2", "base"), diskLayerId: "layer-x" }))).rejects.toThrow(StoreConstraintError);
  await expect(store.tx(async (s) => await s.parents.insert({ ...parent("p2", "other"), ramPath: parent("p1", "base").ramPath }))).rejects.toThrow(StoreConstraintError);
  expect(await store.parents.list()).toHaveLength(1);
});

test("VMs keep the parent they were instant-cloned from, and list by it", async () => {
  await store.tx(async (s) => {
    await s.parents.insert(parent("p1", "base"));
    await s.vms.insert(vm("vm-src", "src", null));
    await s.vms.insert(vm("vm-a", "kid-1", "p1"));
    await s.vms.insert(vm("vm-b", "kid-2", "p1"));
  });
  expect((await store.vms.get("vm-a"))?.instantCloneOf).toBe("p1");
  expect((await store.vms.get("vm-src"))?.instantCloneOf).toBeNull();
  expect((await store.vms.list({ instantCloneOf: "p1" })).map((v) => v.name)).toEqual(["kid-1", "kid-2"]);
  expect((await store.vms.list()).map((v) => v.name)).toEqual(["kid-1", "kid-2", "src"]);
});
