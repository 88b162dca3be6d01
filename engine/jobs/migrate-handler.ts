import { LOCAL_HOST_ID } from "../model";
import {
  admitMigration,
  migrateVm,
  migrationHost,
  MIGRATE_VM_KIND,
  recoverMigration,
  type MigrateVmRequest,
  type MigrateVmResult,
} from "../ops";
import type { Inventory } from "../store";
import type { JobHandler } from "./handler";

/** `vm.migrate`: a running VM moved live to another host (S6), run by its source host's agent. */
export const migrateVmHandler: JobHandler<MigrateVmRequest, MigrateVmResult> = {
  kind: MIGRATE_VM_KIND,
  admit: (store, req) => admitMigration(store, req),
  hostFor: (store, req) => migrationHost(store, req),
  run: async (ctx, req) => ({ result: await migrateVm(ctx, req), targetId: req.vmId }),
  recover: async (ctx, req, intent) => {
    const { finished, detail } = await recoverMigration(ctx, intent);
    if (finished) return { outcome: "finished", result: { vm: finished, steps: [] }, targetId: req.vmId };
    return { outcome: "rolled-back", detail };
  },
};

/** The host of the VM `vmId` (its agent runs jobs that touch the VM's QEMU); null when unknown. */
export async function hostOfVm(store: Inventory, vmId: string | undefined): Promise<string | null> {
  if (!vmId) return null;
  const vm = await store.vms.get(vmId);
  return vm ? (vm.hostId ?? LOCAL_HOST_ID) : null;
}
