import type { Datastore, DiskLayer, RecordState, Replica, Template } from "../../model";
import type { DatastoreRecords, LayerPatch, LayerRecords, ReplicaPatch, ReplicaRecords, TemplateRecords } from "../inventory";
import {
  datastoreRow,
  LAYER_PATCH,
  layerRow,
  REPLICA_PATCH,
  replicaLayerRow,
  replicaRow,
  templateRow,
  toDatastore,
  toLayer,
  toReplica,
  toTemplate,
  type DatastoreRow,
  type LayerRow,
  type ReplicaLayerRow,
  type ReplicaRow,
  type TemplateRow,
} from "../rows";
import type { SqlSession } from "./driver";
import { Table } from "./table";

// Ties in time order break on id: both databases sort it the same way (plain bytes for ids).
const OLDEST_FIRST = "created_at, id";

export function datastoreRecords(db: SqlSession): DatastoreRecords {
  const t = new Table<DatastoreRow>(db, "datastores");
  return {
    insert: (ds: Datastore) => t.insert(datastoreRow(ds)),
    get: async (id) => map(await t.one("id = ?", [id]), toDatastore),
    findByName: async (name) => map(await t.one("name = ?", [name]), toDatastore),
    list: async () => (await t.many("ORDER BY name")).map(toDatastore),
    delete: (id) => t.delete(id),
  };
}

export function layerRecords(db: SqlSession): LayerRecords {
  const t = new Table<LayerRow>(db, "disk_layers");
  return {
    insert: (layer: DiskLayer) => t.insert(layerRow(layer)),
    get: async (id) => map(await t.one("id = ?", [id]), toLayer),
    getMany: async (ids) => (await t.whereIn("id", ids)).map(toLayer),
    findByPath: async (path) => map(await t.one("path = ?", [path]), toLayer),
    findByContentId: async (contentId) => (await t.many(`WHERE content_id = ? ORDER BY ${OLDEST_FIRST}`, [contentId])).map(toLayer),
    list: async (filter = {}) =>
      (await t.filtered({ datastore_id: filter.datastoreId, owner_kind: filter.ownerKind, owner_id: filter.ownerId }, OLDEST_FIRST)).map(toLayer),
    update: (id, patch: LayerPatch) => t.patch(id, patch, LAYER_PATCH),
    transfer: async (id, to) => void (await db.run("UPDATE disk_layers SET path = ?, owner_kind = ?, owner_id = ? WHERE id = ?", [to.path, to.ownerKind, to.ownerId, id])),
    delete: (id) => t.delete(id),
  };
}

export function templateRecords(db: SqlSession): TemplateRecords {
  const t = new Table<TemplateRow>(db, "templates");
  return {
    insert: (tpl: Template) => t.insert(templateRow(tpl)),
    get: async (id) => map(await t.one("id = ?", [id]), toTemplate),
    findByName: async (name) => map(await t.one("name = ?", [name]), toTemplate),
    list: async (filter = {}) => (await t.filtered({ datastore_id: filter.datastoreId }, "name")).map(toTemplate),
    setState: (id, state: RecordState) => t.patch(id, { state }, { state: ["state", (v) => v] }),
    delete: (id) => t.delete(id),
  };
}

/** Replica writes touch two tables; callers outside a transaction get one of their own from `inTx`. */
export function replicaRecords(db: SqlSession, inTx: <T>(fn: (db: SqlSession) => Promise<T>) => Promise<T>): ReplicaRecords {
  const replicas = (s: SqlSession) => new Table<ReplicaRow>(s, "replicas");
  const layers = (s: SqlSession) => new Table<ReplicaLayerRow>(s, "replica_layers", "replica_id");
  const withLayers = async (rows: ReplicaRow[]): Promise<Replica[]> => {
    if (rows.length === 0) return [];
    const all = await layers(db).many(`WHERE replica_id IN (${rows.map(() => "?").join(", ")})`, rows.map((r) => r.id));
    return rows.map((r) => toReplica(r, all.filter((l) => l.replica_id === r.id)));
  };
  return {
    insert: (r) =>
      inTx(async (s) => {
        await replicas(s).insert(replicaRow(r));
        for (const l of r.layers) await layers(s).insert(replicaLayerRow(r.id, l));
      }),
    get: async (id) => (await withLayers(await replicas(db).many("WHERE id = ?", [id])))[0] ?? null,
    list: async (filter = {}) => withLayers(await replicas(db).filtered({ target_datastore_id: filter.targetDatastoreId }, OLDEST_FIRST)),
    findUsingPath: async (path) =>
      withLayers(await replicas(db).many(`WHERE id IN (SELECT replica_id FROM replica_layers WHERE path = ?) ORDER BY ${OLDEST_FIRST}`, [path])),
    update: (id, patch: ReplicaPatch) =>
      inTx(async (s) => {
        await replicas(s).patch(id, patch, REPLICA_PATCH);
        if (patch.layers === undefined || !(await replicas(s).one("id = ?", [id]))) return;
        await s.run("DELETE FROM replica_layers WHERE replica_id = ?", [id]);
        for (const l of patch.layers) await layers(s).insert(replicaLayerRow(id, l));
      }),
    // replica_layers rows go with it (ON DELETE CASCADE).
    delete: (id) => replicas(db).delete(id),
  };
}

export function map<R, T>(row: R | null, to: (r: R) => T): T | null {
  return row ? to(row) : null;
}
