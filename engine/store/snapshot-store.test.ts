import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DiskLayer } from "../model";
import { openSqliteStore, StoreConstraintError, type SqliteStore } from ".";

let dir: string;
let store: SqliteStore;

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

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-snapshot-store-"));
  store = openSqliteStore(path.join(dir, "inventory.db"));
  store.tx((s) => {
    s.insertDatastore({ id: "ds-1", name: "a", path: "/srv/a", createdAt: "2025-01-01T00:00:00.000Z" });
    s.insertLayer(layer("l-vm", "/srv/a/clonefleet/vms/vm-1/disk.qcow2", "vm", "vm-1"));
    s.insertLayer(layer("l-f1", "/srv/a/clonefleet/vms/vm-1/f1.qcow2", "snapshot", "snap-1"));
    s.insertLayer(layer("l-f2", "/srv/a/clonefleet/vms/vm-1/f2.qcow2", "snapshot", "snap-2"));
    s.insertVm({
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

afterEach(() => {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test("snapshots round-trip, list oldest first per VM, re-point their layer and go", () => {
  store.tx((s) => {
    s.insertSnapshot({ id: "snap-1", vmId: "vm-1", name: "a", layerId: "l-f1", state: "ready", createdAt: "2025-01-01T00:00:01.000Z" });
    s.insertSnapshot({ id: "snap-2", vmId: "vm-1", name: "b", layerId: "l-f2", state: "ready", createdAt: "2025-01-01T00:00:02.000Z" });
  });
  expect(store.listSnapshots({ vmId: "vm-1" }).map((x) => x.name)).toEqual(["a", "b"]);
  expect(store.listSnapshots({ vmId: "vm-2" })).toEqual([]);
  store.tx((s) => {
    s.deleteSnapshot("snap-1");
    s.updateSnapshot("snap-2", { layerId: "l-f1", state: "drifted" });
  });
  expect(store.getSnapshot("snap-2")).toMatchObject({ layerId: "l-f1", state: "drifted" });
  expect(store.getSnapshot("snap-1")).toBeNull();
});

test("a name is unique per VM, a layer belongs to one snapshot, and the VM must exist", () => {
  store.tx((s) => s.insertSnapshot({ id: "snap-1", vmId: "vm-1", name: "a", layerId: "l-f1", state: "ready", createdAt: "x" }));
  expect(() => store.tx((s) => s.insertSnapshot({ id: "snap-2", vmId: "vm-1", name: "a", layerId: "l-f2", state: "ready", createdAt: "x" }))).toThrow(StoreConstraintError);
  expect(() => store.tx((s) => s.insertSnapshot({ id: "snap-3", vmId: "vm-1", name: "c", layerId: "l-f1", state: "ready", createdAt: "x" }))).toThrow(StoreConstraintError);
  expect(() => store.tx((s) => s.insertSnapshot({ id: "snap-4", vmId: "vm-9", name: "d", layerId: "l-f2", state: "ready", createdAt: "x" }))).toThrow(StoreConstraintError);
});
