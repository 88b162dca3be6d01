/**
 * Changes to datastores, pools, replicas and VM settings that run as jobs like every other
 * change (`datastore.create`, `datastore.delete`, `pool.create`, `pool.resize`, `pool.delete`,
 * `replica.delete`, `vm.update`). Each records its intent before it changes a record or a
 * file, and recovery at engine start finishes it (once its records were committed) or finds
 * it never began and undoes what it made.
 */
import { JOB_KINDS, type Datastore, type Pool } from "../model";
import type { OpContext } from "./context";
import { addDatastore, measureDatastore, removeDatastore, removeEngineFolderIfEmpty, undoDatastoreAdd, type AddDatastoreRequest, type DatastoreAddPlan, type DatastoreStatus } from "./datastore";
import { createPool, deletePool, getPoolView, removeDiscardedFiles, resizePool, type CreatePoolRequest, type PoolDiscard, type PoolView } from "./pool";
import { deleteReplica, removeReplicaFiles, type ReplicaFiles } from "./replicate";
import { updateVmSettings, type UpdateVmSettingsRequest } from "./vm-settings";
import type { VmView } from "./vm-view";
import type { RecordIdRequest } from "./inventory-jobs";

export const CREATE_DATASTORE_KIND = JOB_KINDS.createDatastore;
export const DELETE_DATASTORE_KIND = JOB_KINDS.deleteDatastore;
export const CREATE_POOL_KIND = JOB_KINDS.createPool;
export const RESIZE_POOL_KIND = JOB_KINDS.resizePool;
export const DELETE_POOL_KIND = JOB_KINDS.deletePool;
export const DELETE_REPLICA_KIND = JOB_KINDS.deleteReplica;
export const UPDATE_VM_KIND = JOB_KINDS.updateVm;

/** A pool's new size. */
export interface ResizePoolRequest {
  id: string;
  size: number;
}

/** What recovery did with an interrupted job: its result when it finished, else why nothing stayed changed. */
export type StorageRecovery<T> = { finished: T; detail: "" } | { finished: null; detail: string };

/** The `datastore.create` job: records what it is about to make, then makes the folders and the record (see addDatastore). */
export async function runDatastoreAdd(ctx: OpContext, req: AddDatastoreRequest): Promise<DatastoreStatus> {
  return addDatastore(ctx, req, (plan) => ctx.recordIntent(plan));
}

/** After a crash during `datastore.create`: a committed record finishes it; otherwise the folders it made go. */
export async function recoverDatastoreAdd(ctx: OpContext, intent: unknown): Promise<StorageRecovery<DatastoreStatus>> {
  const plan = intent as DatastoreAddPlan | null;
  if (!plan) return { finished: null, detail: "the engine stopped before the datastore was made; nothing changed" };
  const ds = await ctx.store.datastores.get(plan.id);
  if (ds) return { finished: await measureDatastore(ds), detail: "" };
  await undoDatastoreAdd(plan);
  return { finished: null, detail: `the engine stopped before datastore ${JSON.stringify(plan.name)} was recorded; the folders it made were removed` };
}

/** The `datastore.delete` job: records the datastore, then drops its record and its empty engine folder (see removeDatastore). */
export async function runDatastoreRemove(ctx: OpContext, req: RecordIdRequest): Promise<{ id: string }> {
  await removeDatastore(ctx, req.id, (ds) => ctx.recordIntent({ datastore: ds } satisfies DatastoreRemoveIntent));
  return { id: req.id };
}

interface DatastoreRemoveIntent {
  datastore: Datastore;
}

/** After a crash during `datastore.delete`: once the record is gone its empty engine folder goes too (finished); a datastore still recorded was not touched. */
export async function recoverDatastoreRemove(ctx: OpContext, req: RecordIdRequest, intent: unknown): Promise<StorageRecovery<{ id: string }>> {
  const i = intent as DatastoreRemoveIntent | null;
  if (!i || (await ctx.store.datastores.get(req.id))) return { finished: null, detail: `the engine stopped before datastore ${req.id}'s record was removed; it was kept whole` };
  await removeEngineFolderIfEmpty(i.datastore.path);
  return { finished: { id: req.id }, detail: "" };
}

/** The `pool.create` job: records the request, then the pool (see createPool); the refill loop fills it. */
export async function runPoolCreate(ctx: OpContext, req: CreatePoolRequest): Promise<PoolView> {
  await ctx.recordIntent({ templateId: req.templateId, datastoreId: req.datastoreId });
  return createPool(ctx, req);
}

/** After a crash during `pool.create`: the pool is one record, committed (finished) or not (nothing changed). */
export async function recoverPoolCreate(ctx: OpContext, req: CreatePoolRequest): Promise<StorageRecovery<PoolView>> {
  const pool: Pool | null = await ctx.store.pools.find(req.templateId, req.datastoreId);
  if (pool) return { finished: await getPoolView(ctx.store, pool.id), detail: "" };
  return { finished: null, detail: "the engine stopped before the pool was recorded; nothing changed" };
}

/** The `pool.resize` job: records the copies it discards, then the new size and their records, then their files (see resizePool). */
export async function runPoolResize(ctx: OpContext, req: ResizePoolRequest): Promise<PoolView> {
  return resizePool(ctx, req.id, req.size, (discard) => ctx.recordIntent(discard));
}

/**
 * After a crash during `pool.resize`: discarded copies whose records are gone lose their files
 * in any case; the resize finished when the pool has its new size, else it never committed.
 */
export async function recoverPoolResize(ctx: OpContext, req: ResizePoolRequest, intent: unknown): Promise<StorageRecovery<PoolView>> {
  const discard = intent as PoolDiscard | null;
  if (discard) await removeDiscardedFiles(ctx, discard);
  const pool = await ctx.store.pools.get(req.id);
  if (pool?.size === req.size) return { finished: await getPoolView(ctx.store, req.id), detail: "" };
  return { finished: null, detail: `the engine stopped before pool ${req.id}'s new size was recorded; it was kept as it was` };
}

/** The `pool.delete` job: records its copies' files, then drops pool and copy records, then the files (see deletePool). */
export async function runPoolDelete(ctx: OpContext, req: RecordIdRequest): Promise<{ id: string }> {
  await deletePool(ctx, req.id, (discard) => ctx.recordIntent(discard));
  return { id: req.id };
}

/** After a crash during `pool.delete`: once the pool's record is gone its copies' files go too (finished); a pool still recorded was not touched. */
export async function recoverPoolDelete(ctx: OpContext, req: RecordIdRequest, intent: unknown): Promise<StorageRecovery<{ id: string }>> {
  const discard = intent as PoolDiscard | null;
  if (!discard || (await ctx.store.pools.get(req.id))) return { finished: null, detail: `the engine stopped before pool ${req.id}'s record was removed; the pool was kept whole` };
  await removeDiscardedFiles(ctx, discard);
  return { finished: { id: req.id }, detail: "" };
}

/** The `replica.delete` job: records where its files lie, then drops its records, then its folder (see deleteReplica). */
export async function runReplicaDelete(ctx: OpContext, req: RecordIdRequest): Promise<{ id: string }> {
  await deleteReplica(ctx, req.id, (files) => ctx.recordIntent(files));
  return { id: req.id };
}

/** After a crash during `replica.delete`: once its record is gone its folder goes too (finished); a replica still recorded was not touched. */
export async function recoverReplicaDelete(ctx: OpContext, req: RecordIdRequest, intent: unknown): Promise<StorageRecovery<{ id: string }>> {
  const files = intent as ReplicaFiles | null;
  if (!files || (await ctx.store.replicas.get(req.id))) return { finished: null, detail: `the engine stopped before replica ${req.id}'s records were removed; the replica was kept whole` };
  await removeReplicaFiles(ctx, files);
  return { finished: { id: req.id }, detail: "" };
}

/** The `vm.update` job: records the change, then applies it to the VM's record in one transaction (see updateVmSettings). */
export async function runVmUpdate(ctx: OpContext, req: UpdateVmSettingsRequest): Promise<VmView> {
  await ctx.recordIntent({ id: req.id });
  return updateVmSettings(ctx.store, req);
}

/** After a crash during `vm.update`: the change is one transaction and applying it again changes nothing more, so it is applied again (finished) unless the VM is gone. */
export async function recoverVmUpdate(ctx: OpContext, req: UpdateVmSettingsRequest): Promise<StorageRecovery<VmView>> {
  if (!(await ctx.store.vms.get(req.id))) return { finished: null, detail: `VM ${req.id} is gone; nothing changed` };
  return { finished: await updateVmSettings(ctx.store, req), detail: "" };
}
