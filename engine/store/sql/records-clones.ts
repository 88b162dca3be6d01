import type { FleetRecords, ParentRecords, PoolRecords, SnapshotRecords, VmRecords } from "../inventory";
import { snapshotRow, toSnapshot, type SnapshotRow } from "../rows";
import {
  FLEET_PATCH,
  fleetRow,
  POOL_PATCH,
  poolCopyRow,
  poolRow,
  toFleet,
  toPool,
  toPoolCopy,
  toVm,
  VM_PATCH,
  vmRow,
  type FleetRow,
  type PoolCopyRow,
  type PoolRow,
  type VmRow,
} from "../rows-clones";
import { parentRow, toParent, type ParentRow } from "../rows-parents";
import type { SqlSession } from "./driver";
import { map } from "./records-disks";
import { Table } from "./table";

const OLDEST_FIRST = "created_at, id";

export function poolRecords(db: SqlSession): PoolRecords {
  const t = new Table<PoolRow>(db, "pools");
  const copies = new Table<PoolCopyRow>(db, "pool_copies", "layer_id");
  return {
    insert: (p) => t.insert(poolRow(p)),
    get: async (id) => map(await t.one("id = ?", [id]), toPool),
    find: async (templateId, datastoreId) => map(await t.one("template_id = ? AND datastore_id = ?", [templateId, datastoreId]), toPool),
    list: async (filter = {}) => (await t.filtered({ template_id: filter.templateId, datastore_id: filter.datastoreId }, OLDEST_FIRST)).map(toPool),
    update: (id, patch) => t.patch(id, patch, POOL_PATCH),
    delete: (id) => t.delete(id),
    insertCopy: (c) => copies.insert(poolCopyRow(c)),
    listCopies: async (poolId) => (await copies.many("WHERE pool_id = ? ORDER BY created_at, layer_id", [poolId])).map(toPoolCopy),
    deleteCopy: (layerId) => copies.delete(layerId),
    takeOldestCopy: async (poolId) => {
      // SKIP LOCKED: a copy another transaction is taking right now is passed over, so two
      // engines handing out copies of one pool never block on, or share, one copy. SQLite's
      // writer lock already makes the pick and the delete one step.
      const skipLocked = db.dialect === "postgres" ? " FOR UPDATE SKIP LOCKED" : "";
      const rows = await db.query<PoolCopyRow & Record<string, unknown>>(
        `DELETE FROM pool_copies WHERE layer_id = (SELECT layer_id FROM pool_copies WHERE pool_id = ? ORDER BY created_at, layer_id LIMIT 1${skipLocked}) RETURNING *`,
        [poolId],
      );
      return rows.length ? toPoolCopy(rows[0]) : null;
    },
  };
}

export function fleetRecords(db: SqlSession): FleetRecords {
  const t = new Table<FleetRow>(db, "fleets");
  return {
    insert: (f) => t.insert(fleetRow(f)),
    get: async (id) => map(await t.one("id = ?", [id]), toFleet),
    findByNamePrefix: async (prefix) => map(await t.one("name_prefix = ?", [prefix]), toFleet),
    list: async (filter = {}) => (await t.filtered({ template_id: filter.templateId }, "name_prefix")).map(toFleet),
    update: (id, patch) => t.patch(id, patch, FLEET_PATCH),
    delete: (id) => t.delete(id),
  };
}

export function vmRecords(db: SqlSession): VmRecords {
  const t = new Table<VmRow>(db, "vms");
  return {
    insert: (vm) => t.insert(vmRow(vm)),
    get: async (id) => map(await t.one("id = ?", [id]), toVm),
    findByName: async (name) => map(await t.one("name = ?", [name]), toVm),
    namesStartingWith: async (prefix) =>
      (await db.query<{ name: string }>("SELECT name FROM vms WHERE substr(name, 1, ?) = ?", [prefix.length, prefix])).map((r) => r.name),
    list: async (filter = {}) =>
      (
        await t.filtered(
          { fleet_id: filter.fleetId, datastore_id: filter.datastoreId, template_id: filter.templateId, instant_clone_of: filter.instantCloneOf, host_id: filter.hostId },
          "name",
        )
      ).map(toVm),
    update: (id, patch) => t.patch(id, patch, VM_PATCH),
    delete: (id) => t.delete(id),
  };
}

export function parentRecords(db: SqlSession): ParentRecords {
  const t = new Table<ParentRow>(db, "instant_clone_parents");
  return {
    insert: (p) => t.insert(parentRow(p)),
    get: async (id) => map(await t.one("id = ?", [id]), toParent),
    findByName: async (name) => map(await t.one("name = ?", [name]), toParent),
    list: async (filter = {}) => (await t.filtered({ datastore_id: filter.datastoreId }, "name")).map(toParent),
    update: (id, patch) => t.patch(id, patch, { state: ["state", (v) => v], warmCount: ["warm_count", (v) => v] }),
    delete: (id) => t.delete(id),
  };
}

export function snapshotRecords(db: SqlSession): SnapshotRecords {
  const t = new Table<SnapshotRow>(db, "snapshots");
  return {
    insert: (snap) => t.insert(snapshotRow(snap)),
    get: async (id) => map(await t.one("id = ?", [id]), toSnapshot),
    list: async (filter = {}) => (await t.filtered({ vm_id: filter.vmId }, OLDEST_FIRST)).map(toSnapshot),
    update: (id, patch) => t.patch(id, patch, { layerId: ["layer_id", (v) => v], state: ["state", (v) => v] }),
    delete: (id) => t.delete(id),
  };
}
