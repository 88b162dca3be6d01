import { conflict } from "../errors";
import {
  admitFleetApply,
  admitVmName,
  APPLY_FLEET_KIND,
  applyFleet,
  fleetApplyHost,
  CREATE_VM_KIND,
  createVm,
  createVmHost,
  recoverFleetApply,
  recoverVmCreate,
  type ApplyFleetRequest,
  type ApplyFleetResult,
  type CreateVmRequest,
  type VmView,
  admitForkName,
  FORK_VM_KIND,
  forkVm,
  recoverVmFork,
  type ForkVmRequest,
  type ForkVmResult,
} from "../ops";
import type { JobHandler } from "./handler";
import { hostOfVm } from "./migrate-handler";

/** `fleet.apply`: brings a fleet to its declaration (grow, shrink, recreate drifted members). */
export const applyFleetHandler: JobHandler<ApplyFleetRequest, ApplyFleetResult> = {
  kind: APPLY_FLEET_KIND,
  admit: (store, req) => admitFleetApply(store, req),
  hostFor: (store, req) => fleetApplyHost(store, req),
  run: async (ctx, req) => ({ result: await applyFleet(ctx, req), targetId: req.fleetId }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverFleetApply(ctx, req, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.fleetId };
    return { outcome: "rolled-back", detail };
  },
};

/** `vm.create`: one VM from a template with a clone mode. */
export const createVmHandler: JobHandler<CreateVmRequest, VmView> = {
  kind: CREATE_VM_KIND,
  admit: async (store, req) => {
    if (req.datastoreId && !(await store.datastores.get(req.datastoreId))) throw conflict(`datastore ${req.datastoreId} was removed`, "datastore_id");
    await admitVmName(store, req.name);
  },
  hostFor: (store, req) => createVmHost(store, req),
  run: async (ctx, req) => {
    const view = await createVm(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, _req, intent) => {
    const { finished } = await recoverVmCreate(ctx, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped while creating the VM; every file it made was removed" };
  },
};

/** `vm.fork`: a child forked from a VM (S5), its disk inherited per S2. */
export const forkVmHandler: JobHandler<ForkVmRequest, ForkVmResult> = {
  kind: FORK_VM_KIND,
  admit: async (store, req) => {
    if (!(await store.vms.get(req.parentId))) throw conflict(`VM ${req.parentId} was removed`, "id");
    await admitForkName(store, req.name);
  },
  hostFor: (store, req) => hostOfVm(store, req.parentId),
  run: async (ctx, req) => {
    const view = await forkVm(ctx, req);
    return { result: view, targetId: view.id };
  },
  recover: async (ctx, req, intent) => {
    const { finished } = await recoverVmFork(ctx, req, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: finished.id };
    return { outcome: "rolled-back", detail: "the engine stopped while forking the VM; the parent runs on and every file of the child was removed" };
  },
};
