import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { DiskLayer, Replica } from "../model";
import { openInventory, StoreConstraintError, type Inventory } from ".";

let dir: string;
let store: Inventory;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "clonefleet-replica-store-"));
  store = await openInventory(path.join(dir, "inventory.db"));
  await store.tx(async (s) => {
    await s.datastores.insert({ id: "ds-1", name: "a", path: "/srv/a", createdAt: "2025-01-01T00:00:00.000Z", hostId: null });
    await s.datastores.insert({ id: "ds-2", name: "b", path: "/srv/b", createdAt: "2025-01-01T00:00:00.000Z", hostId: null });
    await s.layers.insert(layer("layer-top", "/srv/b/clonefleet/replicas/rep-1/0-top.qcow2"));
  });
});

afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function layer(id: string, p: string): DiskLayer {
  return {
    id,
    datastoreId: "ds-2",
    path: p,
    format: "qcow2",
    virtualSizeBytes: 64 * 1024 * 1024,
    contentId: "c".repeat(32),
    parentContentId: "a".repeat(32),
    backingPath: "/srv/b/base.qcow2",
    ownerKind: "replica",
    ownerId: "rep-1",
    state: "ready",
    createdAt: "2025-01-01T00:00:01.000Z",
  };
}

function replica(over: Partial<Replica> = {}): Replica {
  return {
    id: "rep-1",
    sourceKind: "disk",
    sourcePath: "/srv/a/top.qcow2",
    sourceTemplateId: null,
    targetDatastoreId: "ds-2",
    topLayerId: "layer-top",
    diskPath: "/srv/b/clonefleet/replicas/rep-1/0-top.qcow2",
    layersCopied: 1,
    layersReused: 1,
    bytesCopied: 1234,
    layers: [
      {
        position: 0,
        path: "/srv/b/clonefleet/replicas/rep-1/0-top.qcow2",
        contentId: "c".repeat(32),
        parentContentId: "a".repeat(32),
        virtualSizeBytes: 64 * 1024 * 1024,
        format: "qcow2",
        origin: "copied",
        layerId: "layer-top",
        sourcePath: "/srv/a/top.qcow2",
      },
      {
        position: 1,
        path: "/srv/b/base.qcow2",
        contentId: "a".repeat(32),
        parentContentId: null,
        virtualSizeBytes: 64 * 1024 * 1024,
        format: "qcow2",
        origin: "reused",
        layerId: null,
        sourcePath: "/srv/a/base.qcow2",
      },
    ],
    lastRun: {
      runId: "run-1",
      kind: "create",
      copied: [{ position: 0, sourcePath: "/srv/a/top.qcow2", targetPath: "/srv/b/clonefleet/replicas/rep-1/0-top.qcow2", contentId: "c".repeat(32), bytes: 1234 }],
      reused: [{ position: 1, targetPath: "/srv/b/base.qcow2", contentId: "a".repeat(32) }],
      kept: [],
      bytesCopied: 1234,
      staleLinks: [],
      refused: [],
      verified: true,
      startedAt: "2025-01-01T00:00:01.000Z",
      finishedAt: "2025-01-01T00:00:02.000Z",
    },
    state: "ready",
    createdAt: "2025-01-01T00:00:02.000Z",
    updatedAt: "2025-01-01T00:00:02.000Z",
    ...over,
  };
}

describe("replicas in the SQLite store", () => {
  test("round-trip with their layers, in position order", async () => {
    await store.tx(async (s) => await s.replicas.insert(replica()));
    expect(await store.replicas.get("rep-1")).toEqual(replica());
    expect(await store.replicas.list()).toEqual([replica()]);
    expect(await store.replicas.list({ targetDatastoreId: "ds-1" })).toEqual([]);
    expect((await store.replicas.findUsingPath("/srv/b/base.qcow2")).map((r) => r.id)).toEqual(["rep-1"]);
    expect(await store.replicas.findUsingPath("/srv/b/other.qcow2")).toEqual([]);
    expect(await store.replicas.get("rep-nope")).toBeNull();
  });

  test("an update replaces the layer list and leaves unpatched fields alone", async () => {
    await store.tx(async (s) => await s.replicas.insert(replica()));
    const layers = [replica().layers[0]];
    await store.tx(async (s) => await s.replicas.update("rep-1", { layers, state: "drifted", bytesCopied: 99 }));
    expect(await store.replicas.get("rep-1")).toEqual(replica({ layers, state: "drifted", bytesCopied: 99 }));
    expect(await store.replicas.findUsingPath("/srv/b/base.qcow2")).toEqual([]);
    // Unknown ids change nothing.
    await store.tx(async (s) => await s.replicas.update("rep-nope", { layers, state: "ready" }));
    expect(await store.replicas.list()).toHaveLength(1);
  });

  test("a failed insert leaves no half-written replica; deletion takes its layer list along", async () => {
    const err = await (async () => {
      try {
        await store.tx(async (s) => await s.replicas.insert(replica({ targetDatastoreId: "ds-nope" })));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(StoreConstraintError);
    expect((err as StoreConstraintError).column).toBe("target_datastore_id");
    expect(await store.replicas.list()).toEqual([]);

    await store.tx(async (s) => await s.replicas.insert(replica()));
    // The copied layer's record cannot go while the replica names it.
    await expect(store.tx(async (s) => await s.layers.delete("layer-top"))).rejects.toThrow(StoreConstraintError);
    await store.tx(async (s) => {
      await s.replicas.delete("rep-1");
      await s.layers.delete("layer-top");
    });
    expect(await store.replicas.get("rep-1")).toBeNull();
    expect(await store.replicas.findUsingPath("/srv/b/base.qcow2")).toEqual([]);
  });
});
