import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DiskLayer } from "../model";
import { openInventory, type Inventory } from "../store";
import { applyStorageMoveRecords, planStorageMove } from "./migrate-storage";

let dir: string;
let store: Inventory;
const T = "2025-01-01T00:00:00.000Z";

const layer = (id: string, p: string, over: Partial<DiskLayer> = {}): DiskLayer => ({
  id,
  datastoreId: "ds-a",
  path: p,
  format: "qcow2",
  virtualSizeBytes: 32 << 20,
  contentId: "c".repeat(32),
  parentContentId: null,
  backingPath: null,
  ownerKind: "vm",
  ownerId: "vm-1",
  state: "ready",
  createdAt: T,
  ...over,
});

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-migstore-"));
  store = await openInventory(path.join(dir, "inventory.db"));
  await store.tx(async (s) => {
    await s.datastores.insert({ id: "ds-a", name: "a", path: "/srv/a", createdAt: T, hostId: null });
    await s.datastores.insert({ id: "ds-b", name: "b", path: "/srv/b", createdAt: T, hostId: null });
    await s.layers.insert(layer("l-tpl", "/srv/a/clonefleet/templates/t/disk.qcow2", { ownerKind: "template", ownerId: "t", contentId: "a".repeat(32) }));
    await s.layers.insert(layer("l-vm", "/srv/a/clonefleet/vms/vm-1/disk.qcow2", { backingPath: "/srv/a/clonefleet/templates/t/disk.qcow2", parentContentId: "a".repeat(32) }));
    await s.vms.insert({
      id: "vm-1",
      name: "v",
      templateId: null,
      datastoreId: "ds-a",
      diskLayerId: "l-vm",
      homeDir: "/srv/a/clonefleet/vms/vm-1",
      provisionedBy: "linked",
      cloneMode: "linked",
      fleetId: null,
      powerState: "running",
      state: "ready",
      createdAt: T,
    });
  });
});

afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("a move keeps the backing layer where it is and puts the VM's own layer in the target's VM folder", async () => {
  const move = await planStorageMove(store, (await store.vms.get("vm-1"))!, "ds-b");
  expect(move).toEqual({
    targetDatastoreId: "ds-b",
    sourceDatastoreId: "ds-a",
    oldLayerId: "l-vm",
    oldPath: "/srv/a/clonefleet/vms/vm-1/disk.qcow2",
    oldHomeDir: "/srv/a/clonefleet/vms/vm-1",
    newPath: "/srv/b/clonefleet/vms/vm-1/disk.qcow2",
    newHomeDir: "/srv/b/clonefleet/vms/vm-1",
    backingPath: "/srv/a/clonefleet/templates/t/disk.qcow2",
    virtualSizeBytes: 32 << 20,
  });
});

test("no datastore or the VM's own is no move; an unknown one is 404 naming target_datastore_id", async () => {
  const vm = (await store.vms.get("vm-1"))!;
  expect(await planStorageMove(store, vm, null)).toBeNull();
  expect(await planStorageMove(store, vm, "ds-a")).toBeNull();
  await expect(planStorageMove(store, vm, "ds-x")).rejects.toThrow(expect.objectContaining({ statusCode: 404, field: "target_datastore_id" }));
});

test("a VM whose folder holds more than its disk, or whose disk backs another, does not move (409)", async () => {
  await store.tx(async (s) => await s.layers.insert(layer("l-snap", "/srv/a/clonefleet/vms/vm-1/snap-1.qcow2", { ownerKind: "snapshot", ownerId: "snap-1" })));
  await expect(planStorageMove(store, (await store.vms.get("vm-1"))!, "ds-b")).rejects.toThrow(expect.objectContaining({ statusCode: 409, field: "target_datastore_id" }));
  await store.tx(async (s) => {
    await s.layers.delete("l-snap");
    await s.layers.insert(layer("l-child", "/srv/a/clonefleet/vms/vm-2/disk.qcow2", { ownerId: "vm-2", backingPath: "/srv/a/clonefleet/vms/vm-1/disk.qcow2" }));
  });
  await expect(planStorageMove(store, (await store.vms.get("vm-1"))!, "ds-b")).rejects.toThrow(/backs other disks/);
});

test("the records follow the move: the VM names the new datastore, folder and a new layer record; the old one is gone", async () => {
  const move = (await planStorageMove(store, (await store.vms.get("vm-1"))!, "ds-b"))!;
  const created = await store.tx(async (s) => applyStorageMoveRecords(s, "vm-1", move));
  const vm = (await store.vms.get("vm-1"))!;
  expect(vm).toMatchObject({ datastoreId: "ds-b", homeDir: "/srv/b/clonefleet/vms/vm-1", diskLayerId: created.id });
  expect(await store.layers.get("l-vm")).toBeNull();
  expect(await store.layers.get(created.id)).toMatchObject({
    datastoreId: "ds-b",
    path: "/srv/b/clonefleet/vms/vm-1/disk.qcow2",
    backingPath: "/srv/a/clonefleet/templates/t/disk.qcow2",
    parentContentId: "a".repeat(32),
    ownerKind: "vm",
    ownerId: "vm-1",
  });
  expect(created.contentId).not.toBe("c".repeat(32));
});
