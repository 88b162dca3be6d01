import { conflict } from "../errors";
import {
  checkDatastoreRemove,
  checkPoolDelete,
  checkPoolRequest,
  checkPoolResize,
  checkReplicaDelete,
  checkVmSettings,
  CREATE_DATASTORE_KIND,
  CREATE_POOL_KIND,
  DELETE_DATASTORE_KIND,
  DELETE_POOL_KIND,
  DELETE_REPLICA_KIND,
  recoverDatastoreAdd,
  recoverDatastoreRemove,
  recoverPoolCreate,
  recoverPoolDelete,
  recoverPoolResize,
  recoverReplicaDelete,
  recoverVmUpdate,
  RESIZE_POOL_KIND,
  runDatastoreAdd,
  runDatastoreRemove,
  runPoolCreate,
  runPoolDelete,
  runPoolResize,
  runReplicaDelete,
  runVmUpdate,
  UPDATE_VM_KIND,
  type AddDatastoreRequest,
  type CreatePoolRequest,
  type DatastoreStatus,
  type PoolView,
  type RecordIdRequest,
  type ResizePoolRequest,
  type UpdateVmSettingsRequest,
  type VmView,
} from "../ops";
import type { Inventory } from "../store";
import type { JobHandler, RecoveryOutcome } from "./handler";
import { refuseTwice } from "./inventory-handlers";

/** `datastore.create`: a directory registered as a datastore, its engine folder made. */
export const createDatastoreHandler: JobHandler<AddDatastoreRequest, DatastoreStatus> = {
  kind: CREATE_DATASTORE_KIND,
  immediate: true,
  // Two queued adds of one name would both pass the route's checks; the second waits for no one.
  admit: async (store, req) => {
    const pending = (await pendingOf(store, CREATE_DATASTORE_KIND)).find((r) => (r as AddDatastoreRequest).name === req.name);
    if (pending) throw conflict(`a datastore named ${JSON.stringify(req.name)} is being added`, "name");
  },
  // A host's own datastore is made by that host's agent, on its machine.
  hostFor: (_store, req) => req.hostId ?? null,
  run: async (ctx, req) => {
    const ds = await runDatastoreAdd(ctx, req);
    return { result: ds, targetId: ds.id };
  },
  recover: async (ctx, _req, intent) => outcome(await recoverDatastoreAdd(ctx, intent), (ds) => ds.id),
};

/** `datastore.delete`: a datastore forgotten, its empty engine folder removed (the user's directory stays). */
export const deleteDatastoreHandler: JobHandler<RecordIdRequest, { id: string }> = {
  kind: DELETE_DATASTORE_KIND,
  hostFor: async (store, req) => (await store.datastores.get(req.id))?.hostId ?? null,
  immediate: true,
  admit: async (store, req) => {
    await checkDatastoreRemove(store, req.id);
    await refuseTwice(store, DELETE_DATASTORE_KIND, req.id, "datastore");
  },
  run: async (ctx, req) => ({ result: await runDatastoreRemove(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => outcome(await recoverDatastoreRemove(ctx, req, intent), () => req.id),
};

/** `pool.create`: a pool recorded; the refill loop fills it in the background. */
export const createPoolHandler: JobHandler<CreatePoolRequest, PoolView> = {
  kind: CREATE_POOL_KIND,
  hostFor: async (store, req) => (await store.datastores.get(req.datastoreId))?.hostId ?? null,
  immediate: true,
  admit: async (store, req) => {
    await checkPoolRequest(store, req);
    const pending = (await pendingOf(store, CREATE_POOL_KIND)).find((r) => (r as CreatePoolRequest).templateId === req.templateId && (r as CreatePoolRequest).datastoreId === req.datastoreId);
    if (pending) throw conflict(`a pool of template ${req.templateId} is being created on that datastore`, "datastore_id");
  },
  run: async (ctx, req) => {
    const view = await runPoolCreate(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, req) => outcome(await recoverPoolCreate(ctx, req), (p) => p.id),
};

/** `pool.resize`: a pool's size set; copies beyond it discarded. */
export const resizePoolHandler: JobHandler<ResizePoolRequest, PoolView> = {
  kind: RESIZE_POOL_KIND,
  hostFor: (store, req) => poolHost(store, req.id),
  immediate: true,
  admit: async (store, req) => void (await checkPoolResize(store, req.id, req.size)),
  run: async (ctx, req) => ({ result: await runPoolResize(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => outcome(await recoverPoolResize(ctx, req, intent), () => req.id),
};

/** `pool.delete`: a pool and its ready copies removed. */
export const deletePoolHandler: JobHandler<RecordIdRequest, { id: string }> = {
  kind: DELETE_POOL_KIND,
  hostFor: (store, req) => poolHost(store, req.id),
  immediate: true,
  admit: async (store, req) => {
    await checkPoolDelete(store, req.id);
    await refuseTwice(store, DELETE_POOL_KIND, req.id, "pool");
  },
  run: async (ctx, req) => ({ result: await runPoolDelete(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => outcome(await recoverPoolDelete(ctx, req, intent), () => req.id),
};

/** `replica.delete`: a replica and the layers it copied removed (layers it reused stay). */
export const deleteReplicaHandler: JobHandler<RecordIdRequest, { id: string }> = {
  kind: DELETE_REPLICA_KIND,
  immediate: true,
  admit: async (store, req) => {
    await checkReplicaDelete(store, req.id);
    await refuseTwice(store, DELETE_REPLICA_KIND, req.id, "replica");
  },
  run: async (ctx, req) => ({ result: await runReplicaDelete(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => outcome(await recoverReplicaDelete(ctx, req, intent), () => req.id),
};

/** `vm.update`: a VM's settings changed in place (its QEMU untouched). */
export const updateVmHandler: JobHandler<UpdateVmSettingsRequest, VmView> = {
  kind: UPDATE_VM_KIND,
  immediate: true,
  admit: (store, req) => checkVmSettings(store, req),
  run: async (ctx, req) => ({ result: await runVmUpdate(ctx, req), targetId: req.id }),
  recover: async (ctx, req) => outcome(await recoverVmUpdate(ctx, req), () => req.id),
};

function outcome<T>(r: { finished: T | null; detail: string }, targetOf: (result: T) => string): RecoveryOutcome {
  return r.finished !== null ? { outcome: "finished", result: r.finished, targetId: targetOf(r.finished) } : { outcome: "rolled-back", detail: r.detail };
}

/** The requests of the queued and running jobs of `kind`. */
/** A pool's files live on its datastore: a host's own datastore has its pools' work run by that host. */
async function poolHost(store: Inventory, poolId: string): Promise<string | null> {
  const pool = await store.pools.get(poolId);
  return pool ? ((await store.datastores.get(pool.datastoreId))?.hostId ?? null) : null;
}

async function pendingOf(store: Inventory, kind: string): Promise<unknown[]> {
  return (await store.jobs.list({ states: ["queued", "running"] }))
    .filter((j) => j.kind === kind)
    .map((j) => j.request);
}
