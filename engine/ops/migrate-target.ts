/**
 * The target side of a live migration (S6): run by the target host's agent on the requests of
 * the source's (through PeerHost): start a QEMU waiting for the stream, run the guest once the
 * stream completed, remove a failed migration's QEMU, and pass the guest its completion line.
 */
import * as path from "node:path";
import { conflict, invalidField, notFound } from "../errors";
import {
  GuestNotifyChannel,
  NOTIFY_PORT_NAME,
  QemuProcess,
  pollUntil,
  portSocketPath,
  setMigrationCapabilities,
} from "../hypervisor";
import { LOCAL_HOST_ID, type Vm } from "../model";
import { ownedPath } from "../disk";
import type { OpContext } from "./context";
import type { IncomingReady, IncomingRequest, TargetDirRequest, CompletionRequest } from "../peer";
import {
  createMoveTarget,
  exportTargetDisk,
  planStorageMove,
  removeMoveTarget,
  unexportTargetDisk,
  type StorageMove,
} from "./migrate-storage";
import { livePid, powerOff, removeVmStateDir, vmSpecOf, vmStateDir } from "./vm-power";
import { COMPLETION_LINGER_MS } from "./migrate-source";

/**
 * Target side: starts a QEMU for `vmId` in this host's state folder waiting for a live
 * migration on a TCP port of this host's address (chosen by QEMU), and answers its URI.
 * 404 for an unknown VM, 409 when the VM is already on this host or a QEMU runs in the folder.
 */
export async function prepareIncoming(ctx: OpContext, req: IncomingRequest): Promise<IncomingReady> {
  const vm = ctx.store.getVm(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "vm_id");
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  if ((vm.hostId ?? LOCAL_HOST_ID) === self) throw conflict(`VM ${vm.name} is already on host ${self}`, "vm_id");
  if (!vm.accel) throw conflict(`VM ${vm.name} has no accelerator recorded; it has never run`, "vm_id");
  const stateDir = vmStateDir(ctx, vm.id);
  if (livePid(stateDir) !== null) throw conflict(`a QEMU already runs in ${stateDir}`, "vm_id");
  // A folder left by an earlier run of the VM on this host holds nothing it needs now.
  await removeVmStateDir(ctx, stateDir);
  const host = ctx.store.getHost(self);
  const listenHost = host ? new URL(host.apiUrl).hostname.replace(/^\[|\]$/g, "") : "127.0.0.1";
  const move = planStorageMove(ctx.store, vm, req.targetDatastoreId);
  const spec = vmSpecOf(ctx.store, vm, stateDir, vm.accel, { incoming: "defer" });
  if (move) {
    // The same chain but its top on the new file (its backing is the same layer).
    await createMoveTarget(ctx.store, move);
    spec.disks = (spec.disks ?? []).map((d, i) => (i === 0 ? { ...d, path: move.newPath } : d));
  }
  let proc: QemuProcess;
  try {
    proc = await QemuProcess.start(spec, { signal: ctx.signal });
  } catch (err) {
    if (move) await removeMoveTarget(ctx.store, vm.id, move);
    throw err;
  }
  try {
    await setMigrationCapabilities(proc.qmp, { events: true });
    await proc.qmp.execute("migrate-incoming", { uri: `tcp:${listenHost.includes(":") ? `[${listenHost}]` : listenHost}:0` });
    const port = await pollUntil(
      "the incoming migration's port",
      async () => (await proc.qmp.execute("query-migrate"))["socket-address"]?.find((a) => a.port)?.port,
      { timeoutMs: 5000, intervalMs: 5 },
    );
    const uri = `tcp:${listenHost.includes(":") ? `[${listenHost}]` : listenHost}:${port}`;
    const nbd = move ? await exportTargetDisk(proc.qmp, listenHost) : null;
    await faultHoldIncoming(ctx);
    // The source agent went away while this QEMU started (it died, or gave up): nobody will
    // migrate into it or abort it, so it goes now.
    if (ctx.signal.aborted) throw conflict(`the source host of VM ${vm.name} went away while its target QEMU started`, "vm_id");
    await proc.detach();
    ctx.log.info({ vmId: vm.id, migrationId: req.migrationId, uri, pid: proc.pid }, "waiting for an incoming migration");
    return { uri, stateDir, pid: proc.pid, nbd };
  } catch (err) {
    await proc.kill().catch(() => undefined);
    await removeVmStateDir(ctx, stateDir);
    if (move) await removeMoveTarget(ctx.store, vm.id, move);
    throw err;
  }
}

async function faultHoldIncoming(ctx: OpContext): Promise<void> {
  // Fault injection for the crash tests: the target parks here until its caller goes away.
  if (process.env.CLONEFLEET_FAULT_INCOMING_HOLD !== "after-start" || ctx.signal.aborted) return;
  await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
}

/**
 * Checks a VM and folder named by another agent: `vmId` must be a VM id (400, vm_id) of a VM in
 * the inventory (404, vm_id), and `stateDir` that VM's state folder on this host (400, state_dir).
 */
function ownStateDir(ctx: OpContext, vmId: string, stateDir: string): { dir: string; vm: Vm } {
  const dir = vmStateDir(ctx, vmId);
  const vm = ctx.store.getVm(vmId);
  if (!vm) throw notFound("vm", vmId, "vm_id");
  if (path.resolve(stateDir) !== dir) throw invalidField("state_dir", `${stateDir} is not VM ${vmId}'s state folder on this host`);
  return { dir, vm };
}

/**
 * Target side, after the stream completed: waits until the target QEMU left `inmigrate`,
 * resumes it if it came up paused, and answers its pid and run state; 409 when it is not
 * running (it died: the source keeps the guest).
 */
export async function activateIncoming(ctx: OpContext, req: TargetDirRequest): Promise<{ pid: number; status: string }> {
  const { dir } = ownStateDir(ctx, req.vmId, req.stateDir);
  let proc: QemuProcess;
  try {
    proc = await QemuProcess.reattach(dir, { timeoutMs: 5000 });
  } catch (err) {
    throw conflict(`the target QEMU of VM ${req.vmId} is not running: ${(err as Error).message}`, "vm_id");
  }
  try {
    let status: string = await pollUntil(
      "the target to leave inmigrate",
      async () => {
        const s = await proc.status({ timeoutMs: 5000 });
        return s === "inmigrate" ? undefined : s;
      },
      { timeoutMs: 10_000, intervalMs: 5 },
    );
    if (status === "paused") {
      await proc.resume();
      status = await proc.status();
    }
    if (status !== "running") throw conflict(`the target QEMU of VM ${req.vmId} is ${status}, not running`, "vm_id");
    // The source's mirror has ended: nobody writes over NBD any more.
    if (req.targetDatastoreId) await unexportTargetDisk(proc.qmp);
    return { pid: proc.pid, status };
  } finally {
    await proc.detach().catch(() => undefined);
  }
}

/** Target side: stops the QEMU of a migration that did not happen and removes its folder; a folder the VM's record names is never touched (409). */
export async function abortIncoming(ctx: OpContext, req: TargetDirRequest): Promise<void> {
  const { dir, vm } = ownStateDir(ctx, req.vmId, req.stateDir);
  if (vm.stateDir === dir) throw conflict(`${dir} is VM ${req.vmId}'s own state folder`, "state_dir");
  // Proven before powerOff too: it signals whatever pid a pidfile in the folder names.
  await ownedPath(ctx.settings.vmStateRoot!, dir).catch((err: unknown) => {
    throw conflict(`${dir} is not inside this host's VM state folder: ${(err as Error).message}`, "state_dir");
  });
  await powerOff(dir, 0);
  await removeVmStateDir(ctx, dir);
  // The new disk file of a datastore move that did not happen goes with it.
  let move: StorageMove | null = null;
  try {
    move = req.targetDatastoreId ? planStorageMove(ctx.store, vm, req.targetDatastoreId) : null;
  } catch {
    // Nothing to remove when no move can be planned (the datastore went away meanwhile).
  }
  if (move) await removeMoveTarget(ctx.store, vm.id, move);
}

/** Sends the guest of a VM on this host a completion line for notice `ref`; throws GuestChannelError wrapped as 409 when the channel cannot be opened. */
export async function sendCompletion(ctx: OpContext, req: CompletionRequest): Promise<void> {
  const vm = ctx.store.getVm(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "vm_id");
  if (!vm.stateDir) throw conflict(`VM ${vm.name} is not running here`, "vm_id");
  let channel: GuestNotifyChannel;
  try {
    channel = await GuestNotifyChannel.connect(portSocketPath(vm.stateDir, { name: NOTIFY_PORT_NAME }), { timeoutMs: 5000 });
  } catch (err) {
    throw conflict(`VM ${vm.name}'s notification channel: ${(err as Error).message}`, "vm_id");
  }
  try {
    await channel.complete(req.ref, req.outcome, { detail: { migration_id: req.migrationId } });
  } finally {
    // Closed in the background after the linger: the caller need not wait for it.
    void channel.close({ lingerMs: COMPLETION_LINGER_MS }).catch(() => undefined);
  }
}
