/**
 * VM start, stop and delete as jobs (`vm.start`, `vm.stop`, `vm.delete`): the checks a route
 * runs before it submits one, the intent each records before it changes a process or a file,
 * and how recovery at engine start finishes or undoes one a crash interrupted.
 */
import { JOB_KINDS } from "../model";
import type { OpContext } from "./context";
import { faultHold } from "./fault-hold";
import { deleteVm, removeVmFiles, type VmFilesRemoval } from "./vm";
import { getVmView, type VmView } from "./vm-view";
import { checkVmStart, checkVmStop, livePid, powerOff, startVm, stopVm, vmStateDir, type StartVmRequest, type StopVmRequest } from "./vm-power";

export const START_VM_KIND = JOB_KINDS.startVm;
export const STOP_VM_KIND = JOB_KINDS.stopVm;
export const DELETE_VM_KIND = JOB_KINDS.deleteVm;

/** A request to delete a standalone VM. */
export interface DeleteVmRequest {
  id: string;
}

/** What a `vm.start` job recorded before it started anything: the folder its QEMU runs in, and whether one ran there already. */
interface StartVmIntent {
  vmId: string;
  stateDir: string;
  wasRunning: boolean;
}

/** What a `vm.stop` job recorded before it stopped anything. */
interface StopVmIntent {
  vmId: string;
  stateDir: string | null;
}

/** What a `vm.delete` job recorded before its records went: every file and process still to remove. */
interface DeleteVmIntent {
  vmId: string;
  removal: VmFilesRemoval;
}

/** The `vm.start` job: records the VM's state folder, then powers it on (see startVm). */
export async function runVmStart(ctx: OpContext, req: StartVmRequest): Promise<VmView> {
  const vm = await checkVmStart(ctx.store, req);
  const stateDir = vm.stateDir ?? vmStateDir(ctx, vm.id);
  await ctx.recordIntent({ vmId: vm.id, stateDir, wasRunning: livePid(stateDir) !== null } satisfies StartVmIntent);
  return startVm(ctx, req);
}

/**
 * After a crash during `vm.start`: a start whose QEMU was recorded running (or that found the
 * VM running) is finished; otherwise a QEMU it left in the state folder is stopped at once and
 * the VM stays stopped.
 */
export async function recoverVmStart(ctx: OpContext, intent: unknown): Promise<{ finished: VmView | null; detail: string }> {
  const i = intent as StartVmIntent | null;
  const nothing = "the engine stopped before the VM's start began; nothing changed";
  if (!i) return { finished: null, detail: nothing };
  const vm = await ctx.store.vms.get(i.vmId);
  if (!vm) return { finished: null, detail: nothing };
  const pid = livePid(i.stateDir);
  if (pid !== null && (i.wasRunning || (vm.powerState === "running" && vm.pid === pid))) {
    if (vm.powerState !== "running" || vm.pid !== pid) await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "running", pid, stateDir: i.stateDir, crashed: false }));
    return { finished: await getVmView(ctx.store, vm.id), detail: "" };
  }
  // A QEMU the record does not name may not have finished starting: it goes, the VM stays off.
  await powerOff(i.stateDir, 0);
  await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "stopped", pid: null }));
  return { finished: null, detail: `the engine stopped while starting VM ${vm.name}; the QEMU it had started was stopped and the VM stays stopped` };
}

/** The `vm.stop` job: records the VM's state folder, then powers it off (see stopVm). */
export async function runVmStop(ctx: OpContext, req: StopVmRequest): Promise<VmView> {
  const vm = await checkVmStop(ctx.store, req);
  await ctx.recordIntent({ vmId: vm.id, stateDir: vm.stateDir ?? null } satisfies StopVmIntent);
  await faultHold(ctx, "CLONEFLEET_FAULT_VM_HOLD", "stop:after-intent");
  return stopVm(ctx, req);
}

/** After a crash during `vm.stop`: the stop is finished (its QEMU quits at once, the record says stopped). */
export async function recoverVmStop(ctx: OpContext, intent: unknown): Promise<{ finished: VmView | null; detail: string }> {
  const i = intent as StopVmIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the VM's stop began; nothing changed" };
  const vm = await ctx.store.vms.get(i.vmId);
  if (!vm) return { finished: null, detail: `VM ${i.vmId} no longer exists` };
  await powerOff(i.stateDir, 0);
  await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "stopped", pid: null, crashed: false }));
  return { finished: await getVmView(ctx.store, vm.id), detail: "" };
}

/** The `vm.delete` job: records every file and process of the VM, then deletes it (see deleteVm). */
export async function runVmDelete(ctx: OpContext, req: DeleteVmRequest): Promise<{ id: string }> {
  await deleteVm(ctx, req.id, (removal) => ctx.recordIntent({ vmId: req.id, removal } satisfies DeleteVmIntent));
  return { id: req.id };
}

/**
 * After a crash during `vm.delete`: a VM whose records are gone has its files and QEMU removed
 * (finished); a VM whose records are still there was not touched (rolled back, kept whole).
 */
export async function recoverVmDelete(ctx: OpContext, req: DeleteVmRequest, intent: unknown): Promise<{ finished: { id: string } | null; detail: string }> {
  const i = intent as DeleteVmIntent | null;
  if ((await ctx.store.vms.get(req.id)) || !i) return { finished: null, detail: `the engine stopped before VM ${req.id}'s records were removed; the VM was kept whole` };
  await removeVmFiles(ctx, i.removal);
  return { finished: { id: req.id }, detail: "" };
}
