/**
 * The target side of a live migration (S6): run by the target host's agent on the requests of
 * the source's (through PeerHost): start a QEMU waiting for the stream, run the guest once the
 * stream completed, remove a failed migration's QEMU, and pass the guest its completion line.
 * Each step is a job on the target host (`migration.incoming`, `migration.activate`,
 * `migration.abort`, `migration.complete`): the checks its route runs before it submits one,
 * the intent each records before it changes a process or a file, and how recovery at the
 * target engine's start finishes or undoes one a crash interrupted.
 */
import * as path from "node:path";
import { conflict, invalidField, notFound } from "../errors";
import {
  GuestNotifyChannel,
  NOTIFY_PORT_NAME,
  QemuProcess,
  pollUntil,
  portSocketPath,
  runStatusOf,
  setMigrationCapabilities,
} from "../hypervisor";
import { JOB_KINDS, LOCAL_HOST_ID, nowIso, type Vm } from "../model";
import { ownedPath } from "../disk";
import type { OpContext } from "./context";
import { faultHold } from "./fault-hold";
import type { IncomingReady, IncomingRequest, TargetDirRequest, CompletionRequest } from "../peer";
import { DEFAULT_HEARTBEAT_INTERVAL_MS, judgeHostStatus, MISSED_HEARTBEATS_FOR_DOWN } from "./hosts";
import {
  applyStorageMoveRecords,
  cleanUpStorageMove,
  createMoveTarget,
  exportTargetDisk,
  planStorageMove,
  removeMoveTarget,
  unexportTargetDisk,
  type StorageMove,
} from "./migrate-storage";
import { livePid, powerOff, removeVmStateDir, vmSpecOf, vmStateDir } from "./vm-power";
import { COMPLETION_LINGER_MS } from "./migrate-source";
import type { Inventory } from "../store";

export const INCOMING_MIGRATION_KIND = JOB_KINDS.incomingMigration;
export const ACTIVATE_MIGRATION_KIND = JOB_KINDS.activateMigration;
export const ABORT_MIGRATION_KIND = JOB_KINDS.abortMigration;
export const COMPLETE_MIGRATION_KIND = JOB_KINDS.completeMigration;

/** What `migration.incoming` records before it touches the state folder or starts a QEMU. */
interface IncomingIntent {
  vmId: string;
  migrationId: string;
  /** The folder its QEMU runs in (removed by recovery unless the migration went ahead). */
  stateDir: string;
  /** The datastore move whose new disk file it makes, when there is one. */
  storage: StorageMove | null;
  recordedAt: string;
}

/** What `migration.activate`, `migration.abort` record before they resume or stop the target QEMU. */
interface TargetDirIntent {
  vmId: string;
  stateDir: string;
  targetDatastoreId: string | null;
}

/** What `migration.complete` records before it opens the guest's channel. */
interface CompletionIntent {
  vmId: string;
  ref: string;
  migrationId: string;
}

/**
 * Checks an incoming migration against the inventory and this host's state folder, touching
 * nothing; answers the VM, its target folder and the datastore move. 404 (vm_id) for an
 * unknown VM, 400 (vm_id) for an id that is not a VM id, 409 (vm_id) when the VM is already on
 * this host, never ran, or a QEMU runs in its folder here; the move's 404/409
 * (target_datastore_id) as planStorageMove throws them.
 */
export async function checkIncoming(ctx: OpContext, req: IncomingRequest): Promise<{ vm: Vm; accel: "kvm" | "tcg"; stateDir: string; move: StorageMove | null }> {
  const vm = await ctx.store.vms.get(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "vm_id");
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  if ((vm.hostId ?? LOCAL_HOST_ID) === self) throw conflict(`VM ${vm.name} is already on host ${self}`, "vm_id");
  if (!vm.accel) throw conflict(`VM ${vm.name} has no accelerator recorded; it has never run`, "vm_id");
  const stateDir = vmStateDir(ctx, vm.id);
  if (livePid(stateDir) !== null) throw conflict(`a QEMU already runs in ${stateDir}`, "vm_id");
  return { vm, accel: vm.accel, stateDir, move: await planStorageMove(ctx.store, vm, req.targetDatastoreId) };
}

/** Refuses a second incoming migration of a VM while one is queued or running on this host's inventory (409, vm_id). */
export async function admitIncoming(store: Inventory, req: IncomingRequest): Promise<void> {
  const pending = (await store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === INCOMING_MIGRATION_KIND && (j.request as IncomingRequest).vmId === req.vmId);
  if (pending) throw conflict(`a target QEMU for VM ${req.vmId} is already being started by job ${pending.id}`, "vm_id");
}

/**
 * Target side: starts a QEMU for `vmId` in this host's state folder waiting for a live
 * migration on a TCP port of this host's address (chosen by QEMU), and answers its URI.
 * 404 for an unknown VM, 409 when the VM is already on this host or a QEMU runs in the folder.
 */
export async function prepareIncoming(ctx: OpContext, req: IncomingRequest): Promise<IncomingReady> {
  const { vm, accel, stateDir, move } = await checkIncoming(ctx, req);
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  // Named before the folder or a process changes: recovery removes both should the engine die.
  await ctx.recordIntent({ vmId: vm.id, migrationId: req.migrationId, stateDir, storage: move, recordedAt: nowIso() } satisfies IncomingIntent);
  // A folder left by an earlier run of the VM on this host holds nothing it needs now.
  await removeVmStateDir(ctx, stateDir);
  const host = await ctx.store.hosts.get(self);
  const listenHost = host ? new URL(host.apiUrl).hostname.replace(/^\[|\]$/g, "") : "127.0.0.1";
  const spec = await vmSpecOf(ctx.store, vm, stateDir, accel, { incoming: "defer" });
  if (move) {
    // The same chain but its top on the new file (its backing is the same layer).
    await createMoveTarget(ctx.store, move);
    spec.disks = (spec.disks ?? []).map((d, i) => (i === 0 ? { ...d, path: move.newPath } : d));
  }
  let proc: QemuProcess;
  try {
    proc = await QemuProcess.start(spec, { signal: ctx.signal });
  } catch (err) {
    await removeVmStateDir(ctx, stateDir).catch(() => undefined);
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
    await faultHold(ctx, "CLONEFLEET_FAULT_INCOMING_HOLD", "after-start");
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

/**
 * After a crash during `migration.incoming`: the source never got the answer, so nothing
 * migrates into the QEMU it started. That QEMU is stopped and its folder (and a move's new disk
 * file) removed, unless the migration went ahead after all (the VM's record names the folder,
 * or a later activation of it is recorded).
 */
export async function recoverIncoming(ctx: OpContext, intent: unknown): Promise<{ detail: string }> {
  const i = intent as IncomingIntent | null;
  if (!i) return { detail: "the engine stopped before the target QEMU was started; nothing changed" };
  if ((await wentAhead(ctx, i))) return { detail: `the engine stopped while it answered; the migration of VM ${i.vmId} went ahead and its QEMU was kept` };
  await powerOff(i.stateDir, 0);
  await removeVmStateDir(ctx, i.stateDir);
  if (i.storage) await removeMoveTarget(ctx.store, i.vmId, i.storage);
  return { detail: `the engine stopped while it started the target QEMU of VM ${i.vmId}; that QEMU was stopped and its folder removed, and the VM stays on its source host` };
}

/** True when the VM now lives in the folder an incoming migration prepared, or an activation of that folder followed it. */
async function wentAhead(ctx: OpContext, i: IncomingIntent): Promise<boolean> {
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  const vm = await ctx.store.vms.get(i.vmId);
  if (vm && (vm.hostId ?? LOCAL_HOST_ID) === self && vm.stateDir === i.stateDir) return true;
  return (await ctx.store.jobs.list({ states: ["running", "succeeded"] }))
    .some((j) => j.kind === ACTIVATE_MIGRATION_KIND && j.createdAt >= i.recordedAt && (j.request as TargetDirRequest).vmId === i.vmId && path.resolve((j.request as TargetDirRequest).stateDir) === i.stateDir);
}

/**
 * Checks a VM and folder named by another agent: `vmId` must be a VM id (400, vm_id) of a VM in
 * the inventory (404, vm_id), and `stateDir` that VM's state folder on this host (400, state_dir).
 */
async function ownStateDir(ctx: OpContext, vmId: string, stateDir: string): Promise<{ dir: string; vm: Vm }> {
  const dir = vmStateDir(ctx, vmId);
  const vm = await ctx.store.vms.get(vmId);
  if (!vm) throw notFound("vm", vmId, "vm_id");
  if (path.resolve(stateDir) !== dir) throw invalidField("state_dir", `${stateDir} is not VM ${vmId}'s state folder on this host`);
  return { dir, vm };
}

/**
 * Checks an activation or abort named by another agent, touching nothing: `vmId` must be a VM id
 * (400, vm_id) of a VM in the inventory (404, vm_id), and `stateDir` its state folder on this
 * host (400, state_dir).
 */
export async function checkTargetDir(ctx: OpContext, req: TargetDirRequest): Promise<void> {
  await ownStateDir(ctx, req.vmId, req.stateDir);
}

/**
 * Target side, after the stream completed: waits until the target QEMU left `inmigrate`,
 * resumes it if it came up paused, and answers its pid and run state; 409 when it is not
 * running (it died: the source keeps the guest).
 */
export async function activateIncoming(ctx: OpContext, req: TargetDirRequest): Promise<{ pid: number; status: string }> {
  const { dir } = await ownStateDir(ctx, req.vmId, req.stateDir);
  await ctx.recordIntent({ vmId: req.vmId, stateDir: dir, targetDatastoreId: req.targetDatastoreId ?? null } satisfies TargetDirIntent);
  const ran = await runTargetQemu(req.vmId, dir, req.targetDatastoreId ?? null);
  await faultHold(ctx, "CLONEFLEET_FAULT_INCOMING_HOLD", "activate:after-resume");
  return ran;
}

/** Runs the target QEMU in `dir` once it left `inmigrate` (resumed when paused) and ends a move's NBD export; 409 (vm_id) when it is not running. */
async function runTargetQemu(vmId: string, dir: string, targetDatastoreId: string | null): Promise<{ pid: number; status: string }> {
  let proc: QemuProcess;
  try {
    proc = await QemuProcess.reattach(dir, { timeoutMs: 5000 });
  } catch (err) {
    throw conflict(`the target QEMU of VM ${vmId} is not running: ${(err as Error).message}`, "vm_id");
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
    if (status !== "running") throw conflict(`the target QEMU of VM ${vmId} is ${status}, not running`, "vm_id");
    // The source's mirror has ended: nobody writes over NBD any more.
    if (targetDatastoreId) await unexportTargetDisk(proc.qmp);
    return { pid: proc.pid, status };
  } finally {
    await proc.detach().catch(() => undefined);
  }
}

/** Longest the recovery of an activation waits for the source's migration job to end while the source host is up. */
const SOURCE_JOB_WAIT_MS = 30_000;

/**
 * After a crash during `migration.activate`; leaves the VM recorded on one host whose QEMU
 * runs it. The source's request failed with this engine, so its agent ran its failure path (or
 * its recovery will): that is waited for while the source host is up. Then:
 * - the record names this host and folder (it moved): the target QEMU is made to run (finished);
 * - the source QEMU runs the guest: the target QEMU is stopped and its folder removed;
 * - the source QEMU does not run (it gave the guest up and could not take it back while the
 *   target QEMU held the disk): the target QEMU, run, keeps the guest; the record moves here and
 *   the source QEMU and folder go, as the source's own recovery would do (finished);
 * - neither: the target QEMU goes and the source QEMU is resumed where it can be.
 */
export async function recoverActivate(ctx: OpContext, intent: unknown): Promise<{ finished: { pid: number; status: string } | null; detail: string }> {
  const i = intent as TargetDirIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the target QEMU was touched; nothing changed" };
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  await sourceJobEnded(ctx, i.vmId);
  const vm = await ctx.store.vms.get(i.vmId);
  if (!vm) {
    await removeTargetQemu(ctx, i.vmId, i.stateDir, null);
    return { finished: null, detail: `VM ${i.vmId} was removed; its target QEMU was stopped` };
  }
  const here = (vm.hostId ?? LOCAL_HOST_ID) === self;
  if (here && vm.stateDir === i.stateDir) {
    try {
      const ran = await runTargetQemu(vm.id, i.stateDir, i.targetDatastoreId);
      await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "running", pid: ran.pid, crashed: false }));
      return { finished: ran, detail: "" };
    } catch (err) {
      return { finished: null, detail: `the engine stopped while it activated VM ${vm.name}, whose record had moved here; its QEMU does not run (${(err as Error).message})` };
    }
  }
  const sourceDir = here ? null : (vm.stateDir ?? null);
  const sourceStatus = await runStatusOf(sourceDir);
  if (sourceStatus !== "running" && sourceDir && livePid(i.stateDir) !== null) {
    const ran = await runTargetQemu(vm.id, i.stateDir, i.targetDatastoreId).catch(() => null);
    if (ran) {
      const move = i.targetDatastoreId ? await planMoveQuietly(ctx.store, vm, i.targetDatastoreId) : null;
      await ctx.store.tx(async (s) => {
        await s.vms.update(vm.id, { hostId: self, stateDir: i.stateDir, pid: ran.pid, powerState: "running", crashed: false });
        if (move) await applyStorageMoveRecords(s, vm.id, move);
      });
      await powerOff(sourceDir, 0);
      await removeVmStateDir(ctx, sourceDir, vm.hostId);
      if (move) await cleanUpStorageMove(ctx.store, move);
      ctx.log.warn({ vmId: vm.id, from: vm.hostId, sourceStatus }, "the source QEMU had given the guest up; the target QEMU keeps it and the record moved here");
      return { finished: ran, detail: "" };
    }
  }
  await removeTargetQemu(ctx, vm.id, i.stateDir, i.targetDatastoreId);
  if (sourceStatus !== null && sourceStatus !== "running" && sourceDir) await resumeQuietly(sourceDir);
  return {
    finished: null,
    detail: `the engine stopped while it activated the target QEMU of VM ${vm.name}; the VM stays on host ${vm.hostId ?? LOCAL_HOST_ID} and the target QEMU was stopped and its folder removed`,
  };
}

/** Waits (up to SOURCE_JOB_WAIT_MS) until no migration of `vmId` runs on a host that is up. */
async function sourceJobEnded(ctx: OpContext, vmId: string): Promise<void> {
  const downAfterMs = ctx.settings.hostDownAfterMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_FOR_DOWN;
  const deadline = Date.now() + SOURCE_JOB_WAIT_MS;
  while (Date.now() < deadline) {
    const running = (await ctx.store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === JOB_KINDS.migrateVm && (j.request as { vmId?: string }).vmId === vmId);
    const host = running ? await ctx.store.hosts.get(running.hostId ?? LOCAL_HOST_ID) : null;
    if (!running || !host || judgeHostStatus(host, Date.now(), downAfterMs).status === "down") return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Resumes the QEMU in `dir`; a QEMU that will not resume is left as it is (logged by its caller's outcome). */
async function resumeQuietly(dir: string): Promise<void> {
  const p = await QemuProcess.reattach(dir, { timeoutMs: 5000 }).catch(() => null);
  if (!p) return;
  await p.resume({ timeoutMs: 5000 }).catch(() => undefined);
  await p.detach().catch(() => undefined);
}

/** The datastore move to `targetDatastoreId` as planned from the records now; null when none can be planned. */
async function planMoveQuietly(store: Inventory, vm: Vm, targetDatastoreId: string): Promise<StorageMove | null> {
  try {
    return await planStorageMove(store, vm, targetDatastoreId);
  } catch {
    return null;
  }
}

/**
 * Checks an abort named by another agent, touching nothing: checkTargetDir's checks, and 409
 * (state_dir) for the folder the VM's record names or one that resolves outside this host's VM
 * state folder.
 */
export async function checkAbort(ctx: OpContext, req: TargetDirRequest): Promise<{ dir: string; vm: Vm }> {
  const { dir, vm } = await ownStateDir(ctx, req.vmId, req.stateDir);
  if (vm.stateDir === dir) throw conflict(`${dir} is VM ${req.vmId}'s own state folder`, "state_dir");
  await provenInStateRoot(ctx, dir);
  return { dir, vm };
}

/** Target side: stops the QEMU of a migration that did not happen and removes its folder; a folder the VM's record names is never touched (409). */
export async function abortIncoming(ctx: OpContext, req: TargetDirRequest): Promise<{ ok: true }> {
  const { dir, vm } = await checkAbort(ctx, req);
  await ctx.recordIntent({ vmId: vm.id, stateDir: dir, targetDatastoreId: req.targetDatastoreId ?? null } satisfies TargetDirIntent);
  await faultHold(ctx, "CLONEFLEET_FAULT_INCOMING_HOLD", "abort:after-intent");
  await removeTargetQemu(ctx, vm.id, dir, req.targetDatastoreId ?? null);
  return { ok: true };
}

/** After a crash during `migration.abort`: the removal is done again (it is idempotent), unless the folder became the VM's own meanwhile. */
export async function recoverAbort(ctx: OpContext, intent: unknown): Promise<{ finished: { ok: true } | null; detail: string }> {
  const i = intent as TargetDirIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the target QEMU was touched; nothing changed" };
  if ((await ctx.store.vms.get(i.vmId))?.stateDir === i.stateDir) return { finished: null, detail: `${i.stateDir} is VM ${i.vmId}'s own state folder now; it was kept` };
  await removeTargetQemu(ctx, i.vmId, i.stateDir, i.targetDatastoreId);
  return { finished: { ok: true }, detail: "" };
}

/** Stops the QEMU in target folder `dir` and removes the folder, and a move's new disk file; never a folder the VM's record names. */
async function removeTargetQemu(ctx: OpContext, vmId: string, dir: string, targetDatastoreId: string | null): Promise<void> {
  const vm = await ctx.store.vms.get(vmId);
  if (vm?.stateDir === dir) throw conflict(`${dir} is VM ${vmId}'s own state folder`, "state_dir");
  // Proven before powerOff too: it signals whatever pid a pidfile in the folder names.
  await provenInStateRoot(ctx, dir);
  await powerOff(dir, 0);
  await removeVmStateDir(ctx, dir);
  if (!vm) return;
  // The new disk file of a datastore move that did not happen goes with it.
  // Nothing to remove when no move can be planned (the datastore went away meanwhile).
  const move = targetDatastoreId ? await planMoveQuietly(ctx.store, vm, targetDatastoreId) : null;
  if (move) await removeMoveTarget(ctx.store, vm.id, move);
}

/** Throws 409 (state_dir) unless `dir` resolves inside this host's VM state folder. */
async function provenInStateRoot(ctx: OpContext, dir: string): Promise<void> {
  await ownedPath(ctx.settings.vmStateRoot!, dir).catch((err: unknown) => {
    throw conflict(`${dir} is not inside this host's VM state folder: ${(err as Error).message}`, "state_dir");
  });
}

/** Checks a completion request, touching nothing: 404 (vm_id) for an unknown VM, 409 (vm_id) for one not running here. */
export async function checkCompletion(ctx: OpContext, req: CompletionRequest): Promise<Vm & { stateDir: string }> {
  const vm = await ctx.store.vms.get(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "vm_id");
  if (!vm.stateDir) throw conflict(`VM ${vm.name} is not running here`, "vm_id");
  return vm as Vm & { stateDir: string };
}

/** Sends the guest of a VM on this host a completion line for notice `ref`; throws GuestChannelError wrapped as 409 when the channel cannot be opened. */
export async function sendCompletion(ctx: OpContext, req: CompletionRequest): Promise<{ ok: true }> {
  const vm = await checkCompletion(ctx, req);
  await ctx.recordIntent({ vmId: vm.id, ref: req.ref, migrationId: req.migrationId } satisfies CompletionIntent);
  let channel: GuestNotifyChannel;
  try {
    channel = await GuestNotifyChannel.connect(portSocketPath(vm.stateDir, { name: NOTIFY_PORT_NAME }), { timeoutMs: 5000, signal: ctx.signal });
  } catch (err) {
    throw conflict(`VM ${vm.name}'s notification channel: ${(err as Error).message}`, "vm_id");
  }
  try {
    await channel.complete(req.ref, req.outcome, { detail: { migration_id: req.migrationId } });
  } finally {
    // Closed in the background after the linger: the caller need not wait for it.
    void channel.close({ lingerMs: COMPLETION_LINGER_MS }).catch(() => undefined);
  }
  return { ok: true };
}

/** After a crash during `migration.complete`: nothing to undo (it changes no file or process), but the line may not have reached the guest. */
export function recoverCompletion(intent: unknown): { detail: string } {
  const i = intent as CompletionIntent | null;
  return { detail: i ? `the engine stopped while it sent VM ${i.vmId}'s guest the completion of ${i.ref}; the guest may not have received it` : "the engine stopped before the completion was sent" };
}
