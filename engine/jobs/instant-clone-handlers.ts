import { conflict } from "../errors";
import {
  admitParentName,
  checkInstantClone,
  CREATE_PARENT_KIND,
  createParent,
  DELETE_PARENT_KIND,
  deleteParent,
  INSTANT_CLONE_KIND,
  instantClone,
  recoverInstantClone,
  recoverParentCreate,
  recoverParentDelete,
  recoverParentUpdate,
  UPDATE_PARENT_KIND,
  updateParent,
  type CreateParentRequest,
  type DeleteParentRequest,
  type InstantCloneRequest,
  type InstantCloneResult,
  type ParentView,
  type UpdateParentRequest,
} from "../ops";
import type { JobHandler } from "./handler";

/** `parent.create`: a running VM captured as an instant-clone parent (S3). */
export const createParentHandler: JobHandler<CreateParentRequest, ParentView> = {
  kind: CREATE_PARENT_KIND,
  admit: async (store, req) => {
    if (!(await store.vms.get(req.sourceVmId))) throw conflict(`VM ${req.sourceVmId} was removed`, "source_vm_id");
    await admitParentName(store, req.name);
  },
  run: async (ctx, req) => {
    const view = await createParent(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, _req, intent) => {
    const { finished } = await recoverParentCreate(ctx, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped while capturing the parent; the source VM keeps its RAM and disk and every file of the parent was removed" };
  },
};

/** `vm.instant-clone`: k children of a parent started at once, each from the parent's frozen state. */
export const instantCloneHandler: JobHandler<InstantCloneRequest, InstantCloneResult> = {
  kind: INSTANT_CLONE_KIND,
  admit: async (store, req) => {
    if (!(await store.parents.get(req.parentId))) throw conflict(`instant-clone parent ${req.parentId} was removed`, "id");
    // Again inside the transaction that records the job, so two requests cannot take the same names.
    await checkInstantClone(store, req);
  },
  run: async (ctx, req) => ({ result: await instantClone(ctx, req), targetId: req.parentId }),
  recover: async (ctx, req, intent) => {
    const { finished } = await recoverInstantClone(ctx, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.parentId };
    return { outcome: "rolled-back", detail: "the engine stopped while starting instant clones; every child's QEMU and files were removed" };
  },
};

/**
 * `parent.delete`: a parent's record, then its files, removed; at once (the route answers 204,
 * or the 409 naming its children), or with `wait` once its children are gone.
 */
export const deleteParentHandler: JobHandler<DeleteParentRequest, { id: string; keptLayer: string | null }> = {
  kind: DELETE_PARENT_KIND,
  // A caller waits for the plain delete; one with `wait` only polls, so it need not hold a slot either.
  immediate: true,
  run: async (ctx, req) => ({ result: await deleteParent(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => {
    const { finished } = await recoverParentDelete(ctx, req, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.id };
    return { outcome: "rolled-back", detail: `the engine stopped before instant-clone parent ${req.id}'s record was removed; the parent was kept whole` };
  },
};

/** `parent.update`: a parent's settings (its warm count) changed. */
export const updateParentHandler: JobHandler<UpdateParentRequest, ParentView> = {
  kind: UPDATE_PARENT_KIND,
  immediate: true,
  run: async (ctx, req) => ({ result: await updateParent(ctx, req), targetId: req.id }),
  recover: async (ctx, req) => {
    const { finished } = await recoverParentUpdate(ctx, req);
    if (finished) return { outcome: "finished", result: finished, targetId: req.id };
    return { outcome: "rolled-back", detail: `instant-clone parent ${req.id} was deleted before its settings changed` };
  },
};
