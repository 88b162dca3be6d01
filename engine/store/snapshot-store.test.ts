import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DiskLayer } from "../model";
import { openInventory, StoreConstraintError, type Inventory } from ".";

let dir: string;
let store: Inventory;

const layer = (id: string, p: string, ownerKind: DiskLayer["ownerKind"], ownerId: string): DiskLayer => ({
  id,
  datastoreId: "ds-1",
  path: p,
  format: "qcow2",
  virtualSizeBytes: 1 << 20,
  contentId: "c".repeat(32),
  parentContentId: null,
  backingPath: null,
  ownerKind,
  ownerId,
  state: "ready",
  createdAt: "2025-01-01T00:00:00.000Z",
});

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-snapshot-store-"));
  store = await openInventory(path.join(dir, "inventory.db"));
  await store.tx(async (s) => {
    await s.datastores.insert({ id: "ds-1", name: "a", path: "/srv/a", createdAt: "2025-01-01T00:00:00.000Z", hostId: null });
    await s.layers.insert(layer("l-vm", "/srv/a/clonefleet/vms/vm-1/disk.qcow2", "vm", "vm-1"));
    await s.layers.insert(layer("l-f1", "/srv/a/clonefleet/vms/vm-1/f1.qcow2", "snapshot", "snap-1"));
    await s.layers.insert(layer("l-f2", "/srv/a/clonefleet/vms/vm-1/f2.qcow2", "snapshot", "snap-2"));
    await s.vms.insert({
      id: "vm-1",
      name: "v",
      templateId: null,
      datastoreId: "ds-1",
      diskLayerId: "l-vm",
      homeDir: "/srv/a/clonefleet/vms/vm-1",
      provisionedBy: "copy",
      cloneMode: null,
      fleetId: null,
      powerState: "stopped",
      state: "ready",
      createdAt: "2025-01-01T00:00:00.000Z",
    });
  });
});

afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("snapshots round-trip, list oldest first per VM, re-point their layer and go", async () => {
  await store.tx(async (s) => {
    await s.snapshots.insert({ id: "snap-1", vmId: "vm-1", name: "a", layerId: "l-f1", state: "ready", createdAt: "2025-01-01T00:00:01.000Z" });
    await s.snapshots.insert({ id: "snap-2", vmId: "vm-1", name: "b", layerId: "l-f2", state: "ready", createdAt: "2025-01-01T00:00:02.000Z" });
  });
  expect((await store.snapshots.list({ vmId: "vm-1" })).map((x) => x.name)).toEqual(["a", "b"]);
  expect(await store.snapshots.list({ vmId: "vm-2" })).toEqual([]);
  await store.tx(async (s) => {
    await s.snapshots.delete("snap-1");
    await s.snapshots.update("snap-2", { layerId: "l-f1", state: "drifted" });
  });
  expect(await store.snapshots.get("snap-2")).toMatchObject({ layerId: "l-f1", state: "drifted" });
  expect(await store.snapshots.get("snap-1")).toBeNull();
});

test("a name is unique per VM, a layer belongs to one snapshot, and the VM must exist", async () => {
  await store.tx(async (s) => await s.snapshots.insert({ id: "snap-1", vmId: "vm-1", name: "a", layerId: "l-f1", state: "ready", createdAt: "x" }));
  await expect(store.tx(async (s) => await s.snapshots.insert({ id: "snap-2", vmId: "vm-1", name: "a", layerId: "l-f2", state: "ready", createdAt: "x" }))).rejects.toThrow(StoreConstraintError);
  await expect(store.tx(async (s) => await s.snapshots.insert({ id: "snap-3", vmId: "vm-1", name: "c", layerId: "l-f1", state: "ready", createdAt: "x" }))).rejects.toThrow(StoreConstraintError);
  await expect(store.tx(async (s) => await s.snapshots.insert({ id: "snap-4", vmId: "vm-9", name: "d", layerId: "l-f2", state: "ready", createdAt: "x" }))).rejects.toThrow(StoreConstraintError);
});
