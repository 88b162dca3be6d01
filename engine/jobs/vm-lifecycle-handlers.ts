import {
  checkVmDelete,
  checkVmStart,
  checkVmStop,
  DELETE_VM_KIND,
  recoverVmDelete,
  recoverVmStart,
  recoverVmStop,
  runVmDelete,
  runVmStart,
  runVmStop,
  START_VM_KIND,
  STOP_VM_KIND,
  type DeleteVmRequest,
  type StartVmRequest,
  type StopVmRequest,
  type VmView,
} from "../ops";
import type { JobHandler } from "./handler";
import { hostOfVm } from "./migrate-handler";
import { refuseTwice } from "./inventory-handlers";

/** `vm.start`: powers a VM on (idempotent). */
export const startVmHandler: JobHandler<StartVmRequest, VmView> = {
  kind: START_VM_KIND,
  immediate: true,
  admit: async (store, req) => void (await checkVmStart(store, req)),
  hostFor: (store, req) => hostOfVm(store, req.id),
  run: async (ctx, req) => ({ result: await runVmStart(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverVmStart(ctx, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.id };
    return { outcome: "rolled-back", detail };
  },
};

/** `vm.stop`: powers a VM off (idempotent). */
export const stopVmHandler: JobHandler<StopVmRequest, VmView> = {
  kind: STOP_VM_KIND,
  immediate: true,
  admit: async (store, req) => void (await checkVmStop(store, req)),
  hostFor: (store, req) => hostOfVm(store, req.id),
  run: async (ctx, req) => ({ result: await runVmStop(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverVmStop(ctx, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.id };
    return { outcome: "rolled-back", detail };
  },
};

/** `vm.delete`: a standalone VM, its disk and its QEMU removed. */
export const deleteVmHandler: JobHandler<DeleteVmRequest, { id: string }> = {
  kind: DELETE_VM_KIND,
  immediate: true,
  admit: async (store, req) => {
    await checkVmDelete(store, req.id);
    await refuseTwice(store, DELETE_VM_KIND, req.id, "VM");
  },
  hostFor: (store, req) => hostOfVm(store, req.id),
  run: async (ctx, req) => ({ result: await runVmDelete(ctx, req), targetId: req.id }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverVmDelete(ctx, req, intent);
    if (finished) return { outcome: "finished", result: finished, targetId: req.id };
    return { outcome: "rolled-back", detail };
  },
};
