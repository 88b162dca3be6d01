/**
 * Application-assisted live migration (S6). A `vm.migrate` job runs on the VM's (source)
 * host: the target host's agent starts a QEMU waiting for the migration on a TCP port, the
 * guest is told (a JSON line on `org.clonefleet.notify.0`) and its acknowledgement awaited
 * per the VM's policy, the source QEMU migrates live, the record moves to the target host,
 * the source QEMU quits and the guest gets a completion line. Until the record moves, any
 * failure leaves the VM running on its source, the record unchanged.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { EngineError, conflict, invalidField, isEngineError, notFound } from "../errors";
import {
  GuestNotifyChannel,
  NOTIFY_PORT_NAME,
  QemuProcess,
  SAVE_MAX_BANDWIDTH_BYTES_PER_SEC,
  migrate,
  portSocketPath,
  runStatusOf,
  type MigrationInfo,
} from "../hypervisor";
import { JOB_KINDS, LOCAL_HOST_ID, newId, nowIso, type MissingAckPolicy } from "../model";
import { missingAckProblem, notifyTimeoutProblem } from "../model/migration-rules";
import type { Inventory } from "../store";
import type { OpContext } from "./context";
import { httpPeerHost, type IncomingReady } from "../peer";
import { DEFAULT_HEARTBEAT_INTERVAL_MS, judgeHostStatus, MISSED_HEARTBEATS_FOR_DOWN } from "./hosts";
import {
  abandonMirror,
  applyStorageMoveRecords,
  checkTargetSeesDisk,
  cleanUpStorageMove,
  finishMirror,
  migrateWithSwitchover,
  planStorageMove,
  removeMoveTarget,
  startMirror,
  type StorageMove,
} from "./migrate-storage";
import { livePid, powerOff, removeVmStateDir, vmStateDirIn, withVmLock } from "./vm-power";
import { getVmView, type VmView } from "./vm-view";

/** The job kind of a live migration. */
export const MIGRATE_VM_KIND = JOB_KINDS.migrateVm;

/**
 * The most the guest may stand still at the switch-over (QEMU's `downtime-limit`); the
 * benchmark's target on loopback (ARCHITECTURE S6 figures).
 */
export const MIGRATION_DOWNTIME_LIMIT_MS = 300;

/** How long a channel stays open after a completion was sent, so the guest reads it whole before the host hangs up. */
export const COMPLETION_LINGER_MS = 500;

/** Default deadline of the migration stream itself. */
export const MIGRATION_TIMEOUT_MS = 300_000;

/** Refuses a notice timeout that is not a whole number of seconds from 0 to 3600, naming `field` (model/migration-rules). */
export function checkNotifyTimeout(value: unknown, field: string): number {
  const problem = notifyTimeoutProblem(value);
  if (problem) throw invalidField(field, problem);
  return value as number;
}

/** Refuses a missing-acknowledgement policy other than abort or proceed, naming `field` (model/migration-rules). */
export function checkMissingAck(value: unknown, field: string): MissingAckPolicy {
  const problem = missingAckProblem(value);
  if (problem) throw invalidField(field, problem);
  return value as MissingAckPolicy;
}

/** A request to move a running VM to another host. */
export interface MigrateVmRequest {
  vmId: string;
  /** The host to move it to. */
  targetHostId: string;
  /** Overrides the VM's notice timeout for this migration; the VM's policy when null. */
  notifyTimeoutSeconds: number | null;
  /** Overrides the VM's missing-acknowledgement policy for this migration; the VM's when null. */
  onMissingAck: MissingAckPolicy | null;
  /** Caps the migration stream (bytes per second); unlimited when null. */
  maxBandwidthBytesPerSec: number | null;
  /** Moves the VM's disk to this datastore during the migration (migrate-storage.ts); no move when null or the VM's own. */
  targetDatastoreId?: string | null;
}

/** One step of a migration, as recorded on its job. */
export interface MigrationStep {
  step:
    | "accepted"
    | "target_ready"
    | "notice_sent"
    | "ack_received"
    | "ack_declined"
    | "ack_missing"
    | "notice_undeliverable"
    | "mirror_started"
    | "mirror_ready"
    | "switch_over"
    | "disk_moved"
    | "migration_started"
    | "migration_completed"
    | "migration_failed"
    | "target_running"
    | "record_moved"
    | "source_stopped"
    | "source_resumed"
    | "target_removed"
    | "completion_sent";
  at: string;
  detail?: Record<string, unknown>;
}

/** How the guest notice went, when one was sent. */
export interface MigrationNotice {
  id: string;
  deadlineMs: number;
  outcome: "acked" | "declined" | "timeout" | "undeliverable";
  /** Time from sending the notice to its answer (or to the deadline). */
  waitedMs: number;
  policy: MissingAckPolicy;
  /** Time from the notice to the switch-over (the guest's warning). */
  leadMs: number | null;
}

/** What a migration did. */
export interface MigrateVmResult {
  vm: VmView;
  migrationId: string;
  sourceHostId: string;
  targetHostId: string;
  /** Time the guest stood still at the switch-over, as QEMU measured it. */
  downtimeMs: number | null;
  /** From the job's start to the VM running on the target with its record moved. */
  totalMs: number;
  /** The migration stream alone (QEMU's total time). */
  migrateMs: number | null;
  ramTransferredBytes: number | null;
  notice: MigrationNotice | null;
  steps: MigrationStep[];
}

/** What a migration records before it starts a QEMU anywhere, and each step as it goes. */
interface MigrateIntent {
  migrationId: string;
  vmId: string;
  sourceHostId: string;
  targetHostId: string;
  sourceStateDir: string;
  targetStateDir: string | null;
  /** The datastore move of the VM's disk, when there is one. */
  storage?: StorageMove | null;
  steps: MigrationStep[];
}

function downAfterMs(ctx: OpContext): number {
  return ctx.settings.hostDownAfterMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_FOR_DOWN;
}

/**
 * Checks a migration against the inventory and the VM's process, touching nothing, and
 * returns it with its fields checked; 404 for an unknown VM (`id`) or host (`host_id`),
 * 409 for a stopped VM, the host it is on, a host that is down, or a migration of the VM
 * already queued or running; 400 for a bad policy override.
 */
export async function checkMigrateRequest(store: Inventory, req: MigrateVmRequest, hostDownAfterMs: number, opts: { admit?: boolean } = {}): Promise<MigrateVmRequest> {
  const vm = await store.vms.get(req.vmId);
  if (!vm) throw notFound("vm", req.vmId, "id");
  if (typeof req.targetHostId !== "string" || req.targetHostId.length === 0) throw invalidField("host_id", "must name a host");
  const target = await store.hosts.get(req.targetHostId);
  if (!target) throw notFound("host", req.targetHostId, "host_id");
  const sourceHostId = vm.hostId ?? LOCAL_HOST_ID;
  if (sourceHostId === target.id) throw conflict(`VM ${vm.name} is already on host ${target.id}`, "host_id");
  const now = Date.now();
  const targetStatus = judgeHostStatus(target, now, hostDownAfterMs);
  if (targetStatus.status === "down") throw conflict(`host ${target.id} is down (${targetStatus.reason ?? "no heartbeat"}); it cannot take VMs`, "host_id");
  const source = await store.hosts.get(sourceHostId);
  if (source && judgeHostStatus(source, now, hostDownAfterMs).status === "down") {
    throw conflict(`VM ${vm.name}'s host ${sourceHostId} is down; its agent cannot migrate it`, "id");
  }
  if (vm.powerState !== "running" || livePid(vm.stateDir) === null) {
    throw conflict(`VM ${vm.name} is stopped; only a running VM migrates live (start it, or start it on the other host)`, "id");
  }
  if (req.notifyTimeoutSeconds !== null) checkNotifyTimeout(req.notifyTimeoutSeconds, "notify_timeout_seconds");
  if (req.onMissingAck !== null) checkMissingAck(req.onMissingAck, "on_missing_ack");
  if (req.maxBandwidthBytesPerSec !== null && (!Number.isInteger(req.maxBandwidthBytesPerSec) || req.maxBandwidthBytesPerSec < 1024 * 1024)) {
    throw invalidField("max_bandwidth_bytes_per_sec", "must be a whole number of at least 1048576 (1 MiB/s)");
  }
  await planStorageMove(store, vm, req.targetDatastoreId);
  await checkTargetSeesDisk(store, vm, target.id, req.targetDatastoreId);
  if (opts.admit !== false) await admitMigration(store, req);
  return req;
}

/** Refuses a migration of a VM another migration is queued or running for. */
export async function admitMigration(store: Inventory, req: MigrateVmRequest): Promise<void> {
  const pending = (await store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === MIGRATE_VM_KIND && (j.request as MigrateVmRequest).vmId === req.vmId);
  if (pending) throw conflict(`VM ${req.vmId} is already being migrated by job ${pending.id}`, "id");
}

/** The host a migration job runs on: the VM's (source) host. */
export async function migrationHost(store: Inventory, req: MigrateVmRequest): Promise<string | null> {
  return (await store.vms.get(req.vmId))?.hostId ?? null;
}

function migrationError(message: string, cause?: unknown): EngineError {
  return new EngineError("CF_MIGRATION_FAILED", 500, message, undefined, { cause });
}

/**
 * Runs a migration on the VM's host (see the file comment); returns the VM as it is on the
 * target, with downtime, times and every step. Throws CF_MIGRATION_ABORTED when the guest
 * declined or the policy aborts on a missing acknowledgement, CF_MIGRATION_FAILED when the
 * target or the stream failed (the VM runs on at its source), 409 when the VM changed meanwhile.
 */
export async function migrateVm(ctx: OpContext, req: MigrateVmRequest): Promise<MigrateVmResult> {
  const t0 = performance.now();
  return await withVmLock(req.vmId, async () => {
    const vm = await ctx.store.vms.get(req.vmId);
    if (!vm) throw notFound("vm", req.vmId, "id");
    const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
    if ((vm.hostId ?? LOCAL_HOST_ID) !== self) throw conflict(`VM ${vm.name} moved to host ${vm.hostId} before its migration started`, "id");
    // Again as it stands now: the VM or the target may have changed while the job was queued.
    await checkMigrateRequest(ctx.store, req, downAfterMs(ctx), { admit: false });
    const sourceStateDir = vm.stateDir!;
    const intent: MigrateIntent = {
      migrationId: newId("job").replace(/^job-/, "mig-"),
      vmId: vm.id,
      sourceHostId: self,
      targetHostId: req.targetHostId,
      sourceStateDir,
      targetStateDir: null,
      storage: await planStorageMove(ctx.store, vm, req.targetDatastoreId),
      steps: [],
    };
    const move = intent.storage ?? null;
    const mark = async (step: MigrationStep["step"], detail?: Record<string, unknown>): Promise<MigrationStep> => {
      const s: MigrationStep = detail ? { step, at: nowIso(), detail } : { step, at: nowIso() };
      intent.steps.push(s);
      await ctx.recordIntent(intent);
      ctx.progress({ unit: "steps", done: intent.steps.length, total: 0, message: step.replace(/_/g, " ") });
      return s;
    };
    // Named before the target is asked: should this engine die while the target starts its
    // QEMU, recovery knows which folder (and process) to remove.
    const targetHost = await ctx.store.hosts.get(req.targetHostId);
    const target = httpPeerHost(ctx.store, req.targetHostId, { selfHostId: ctx.settings.hostId ?? LOCAL_HOST_ID, hostToken: ctx.settings.hostToken ?? null, signal: ctx.signal });
    intent.targetStateDir = targetHost ? vmStateDirIn(targetHost.vmStateRoot, vm.id) : null;
    await mark("accepted", move ? { source_host: self, target_host: req.targetHostId, target_datastore: move.targetDatastoreId } : { source_host: self, target_host: req.targetHostId });

    const timeoutSeconds = req.notifyTimeoutSeconds ?? vm.migrationNotifyTimeoutSeconds ?? 0;
    const policy = req.onMissingAck ?? vm.migrationOnMissingAck ?? "proceed";

    let ready: IncomingReady;
    try {
      ready = await target.prepareIncoming({ vmId: vm.id, migrationId: intent.migrationId, targetDatastoreId: move?.targetDatastoreId ?? null });
    } catch (err) {
      throw migrationError(`starting the target QEMU on host ${req.targetHostId}: ${(err as Error).message}`, err);
    }
    intent.targetStateDir = ready.stateDir;
    await mark("target_ready", move ? { uri: ready.uri, pid: ready.pid, disk: move.newPath } : { uri: ready.uri, pid: ready.pid });

    let mirrorActive = false;
    const undoTarget = async () => {
      if (mirrorActive) {
        // The source's mirror writes into the target: end it before the target goes.
        const p = await QemuProcess.reattach(sourceStateDir, { timeoutMs: 5000 }).catch(() => null);
        if (p) {
          await abandonMirror(p.qmp);
          await p.detach().catch(() => undefined);
        }
        mirrorActive = false;
      }
      await target.abortIncoming({ vmId: vm.id, stateDir: ready.stateDir, targetDatastoreId: move?.targetDatastoreId ?? null }).catch((e: unknown) =>
        ctx.log.warn({ err: (e as Error).message }, "could not remove the target QEMU of a failed migration"),
      );
      await mark("target_removed");
    };

    // A disk moving datastore is mirrored first, so the copy is in sync (and stays so, the
    // mirror writing through each guest write) while the guest gets its notice.
    if (move) {
      try {
        if (!ready.nbd) throw new Error(`host ${req.targetHostId} did not export the VM's new disk`);
        const nbd = ready.nbd;
        const p = await QemuProcess.reattach(sourceStateDir, { timeoutMs: 5000, signal: ctx.signal });
        try {
          mirrorActive = true;
          const mirrored = await startMirror(p.qmp, nbd, move, { signal: ctx.signal, onStarted: async () => void (await mark("mirror_started", { to: move.newPath, sync: move.backingPath ? "top" : "full" })) });
          await mark("mirror_ready", { bytes: mirrored.bytes });
        } finally {
          await p.detach().catch(() => undefined);
        }
      } catch (err) {
        await mark("migration_failed", { reason: (err as Error).message });
        await undoTarget();
        throw migrationError(`mirroring VM ${vm.name}'s disk to datastore ${move.targetDatastoreId} failed; it runs on at host ${self} with its disk where it was: ${(err as Error).message}`, err);
      }
    }

    // The notice, per the VM's policy.
    let notice: MigrationNotice | null = null;
    let noticeSentMs = 0;
    let channel: GuestNotifyChannel | null = null;
    if (timeoutSeconds > 0) {
      const deadlineMs = timeoutSeconds * 1000;
      try {
        channel = await GuestNotifyChannel.connect(portSocketPath(sourceStateDir, { name: NOTIFY_PORT_NAME }), { timeoutMs: 5000, signal: ctx.signal });
      } catch (err) {
        await mark("notice_undeliverable", { reason: (err as Error).message });
        notice = { id: "", deadlineMs, outcome: "undeliverable", waitedMs: 0, policy, leadMs: null };
      }
      if (channel) {
        noticeSentMs = performance.now();
        const sent = await mark("notice_sent", { deadline_ms: deadlineMs, kind: "migration" });
        let outcome;
        try {
          outcome = await channel.notify({ kind: "migration", deadlineMs, detail: { migration_id: intent.migrationId, source_host: self, target_host: req.targetHostId } }, { signal: ctx.signal });
        } catch (err) {
          await channel.close().catch(() => undefined);
          await undoTarget();
          throw isEngineError(err) ? err : migrationError(`notifying the guest: ${(err as Error).message}`, err);
        }
        (sent.detail as Record<string, unknown>).id = outcome.id;
        notice = { id: outcome.id, deadlineMs, outcome: outcome.outcome, waitedMs: Math.round(outcome.waitedMs), policy, leadMs: null };
        if (outcome.outcome === "acked") await mark("ack_received", { id: outcome.id, waited_ms: notice.waitedMs });
        else if (outcome.outcome === "declined") await mark("ack_declined", { id: outcome.id, reason: outcome.reason });
        else await mark("ack_missing", { id: outcome.id, waited_ms: notice.waitedMs, policy });
      }
      // A refusal counts as a missing acknowledgement (docs/guest-notify-protocol.md): the policy decides.
      const refused = notice !== null && notice.outcome !== "acked" && policy === "abort";
      if (refused) {
        if (channel && notice) {
          await channel.complete(notice.id, "aborted", { detail: { migration_id: intent.migrationId } }).catch(() => undefined);
          await mark("completion_sent", { outcome: "aborted" });
        }
        await channel?.close({ lingerMs: COMPLETION_LINGER_MS }).catch(() => undefined);
        await undoTarget();
        const why =
          notice!.outcome === "declined"
            ? "the guest declined the migration and the policy is abort"
            : notice!.outcome === "undeliverable"
              ? "the guest's notification channel could not be opened and the policy is abort"
              : `the guest did not acknowledge within ${timeoutSeconds} s and the policy is abort`;
        throw new EngineError("CF_MIGRATION_ABORTED", 409, `migration of VM ${vm.name} aborted: ${why}; it runs on at host ${self}`, "id");
      }
    }

    // The migration itself.
    let info: MigrationInfo;
    let proc: QemuProcess | null = null;
    try {
      proc = await QemuProcess.reattach(sourceStateDir, { timeoutMs: 5000, signal: ctx.signal });
      const parameters = { "max-bandwidth": req.maxBandwidthBytesPerSec ?? SAVE_MAX_BANDWIDTH_BYTES_PER_SEC, "downtime-limit": MIGRATION_DOWNTIME_LIMIT_MS };
      if (move) {
        const qmp = proc.qmp;
        await mark("migration_started", { uri: ready.uri });
        info = await migrateWithSwitchover(qmp, ready.uri, {
          signal: ctx.signal,
          timeoutMs: MIGRATION_TIMEOUT_MS,
          parameters,
          beforeSwitch: async () => {
            await finishMirror(qmp);
            mirrorActive = false;
            await mark("switch_over", { disk: move.newPath });
          },
        });
      } else {
        await mark("migration_started", { uri: ready.uri });
        info = await migrate(proc.qmp, ready.uri, {
          signal: ctx.signal,
          timeoutMs: MIGRATION_TIMEOUT_MS,
          // A VM forked or cloned from shared RAM has x-ignore-shared set; here all RAM must go.
          capabilities: { "x-ignore-shared": false, "pause-before-switchover": false },
          parameters,
        });
      }
    } catch (err) {
      await mark("migration_failed", { reason: (err as Error).message });
      if (proc && mirrorActive) {
        await abandonMirror(proc.qmp);
        mirrorActive = false;
      }
      if (proc) {
        // QEMU restarts a source it stopped for a failed switch-over; make sure of it.
        const status = await proc.status({ timeoutMs: 5000 }).catch(() => null);
        if (status !== null && status !== "running") {
          await proc.resume({ timeoutMs: 5000 }).catch(() => undefined);
          await mark("source_resumed", { was: status });
        }
        await proc.detach().catch(() => undefined);
      }
      await undoTarget();
      if (channel && notice) {
        await channel.complete(notice.id, "failed", { detail: { migration_id: intent.migrationId } }).catch(() => undefined);
        await mark("completion_sent", { outcome: "failed" });
      }
      await channel?.close({ lingerMs: COMPLETION_LINGER_MS }).catch(() => undefined);
      throw migrationError(`migrating VM ${vm.name} to host ${req.targetHostId} failed; it runs on at host ${self}: ${(err as Error).message}`, err);
    }
    const completed = await mark("migration_completed", { downtime_ms: info.downtime ?? null, total_time_ms: info["total-time"] ?? null, ram_bytes: info.ram?.transferred ?? null });
    await channel?.close().catch(() => undefined);
    if (notice && noticeSentMs > 0) {
      // QEMU does not report the switch-over instant; it ended `downtime` ms before completion.
      notice.leadMs = Math.max(0, Math.round(Date.parse(completed.at) - (info.downtime ?? 0) - Date.parse(intent.steps.find((s) => s.step === "notice_sent")!.at)));
    }

    // The target runs the guest now; move the record, then let the source go.
    let targetPid: number;
    try {
      const r = await target.activateIncoming({ vmId: vm.id, stateDir: ready.stateDir, targetDatastoreId: move?.targetDatastoreId ?? null });
      targetPid = r.pid;
      await mark("target_running", { pid: r.pid, status: r.status });
    } catch (err) {
      // The target did not come up: the source still holds the guest (postmigrate); run it on.
      const status = await proc.status({ timeoutMs: 5000 }).catch(() => null);
      if (status !== null && status !== "running") await proc.resume({ timeoutMs: 5000 }).catch(() => undefined);
      await mark("source_resumed", { was: status });
      await proc.detach().catch(() => undefined);
      await undoTarget();
      throw migrationError(`the target QEMU on host ${req.targetHostId} did not run the VM; it runs on at host ${self}: ${(err as Error).message}`, err);
    }
    await ctx.store.tx(async (s) => {
      await s.vms.update(vm.id, { hostId: req.targetHostId, stateDir: ready.stateDir, pid: targetPid, powerState: "running", crashed: false });
      if (move) await applyStorageMoveRecords(s, vm.id, move);
    });
    await mark("record_moved", move ? { host_id: req.targetHostId, state_dir: ready.stateDir, datastore_id: move.targetDatastoreId } : { host_id: req.targetHostId, state_dir: ready.stateDir });
    const totalMs = Math.round(performance.now() - t0);
    await proc.detach().catch(() => undefined);
    await powerOff(sourceStateDir, 0);
    // The guest's console up to the switch-over stays readable beside its new one.
    const earlierLog = path.join(ready.stateDir, `serial-before-${intent.migrationId}.log`);
    await fs.copyFile(path.join(sourceStateDir, "serial.log"), earlierLog).catch(() => undefined);
    await removeVmStateDir(ctx, sourceStateDir);
    await mark("source_stopped", { earlier_serial_log: earlierLog });
    if (move) {
      await cleanUpStorageMove(ctx.store, move);
      await mark("disk_moved", { from: move.oldPath, to: move.newPath, datastore_id: move.targetDatastoreId });
    }

    if (notice && notice.outcome !== "undeliverable") {
      try {
        await target.sendCompletion({ vmId: vm.id, ref: notice.id, outcome: "succeeded", migrationId: intent.migrationId });
        await mark("completion_sent", { outcome: "succeeded" });
      } catch (err) {
        // The VM moved; a lost completion line is worth a log line, not a failed job.
        ctx.log.warn({ err: (err as Error).message, vmId: vm.id }, "the completion notice did not reach the guest");
      }
    }
    ctx.log.info({ vmId: vm.id, from: self, to: req.targetHostId, downtimeMs: info.downtime, totalMs }, "VM migrated");
    return {
      vm: await getVmView(ctx.store, vm.id),
      migrationId: intent.migrationId,
      sourceHostId: self,
      targetHostId: req.targetHostId,
      downtimeMs: info.downtime ?? null,
      totalMs,
      migrateMs: info["total-time"] ?? null,
      ramTransferredBytes: info.ram?.transferred ?? null,
      notice,
      steps: intent.steps,
    };
  });
}

/**
 * After a crash of the source agent during a migration: when the VM's record already moved,
 * or the target runs the guest while the source gave it up (postmigrate), the migration is
 * finished (record moved, source QEMU stopped); otherwise the target QEMU is stopped, its
 * folder removed, and a paused source resumed.
 */
export async function recoverMigration(ctx: OpContext, intent: unknown): Promise<{ finished: VmView | null; detail: string }> {
  const i = intent as MigrateIntent | null;
  if (!i) return { finished: null, detail: "the engine stopped before the migration started; nothing was changed" };
  const vm = await ctx.store.vms.get(i.vmId);
  if (!vm) return { finished: null, detail: "the VM was removed" };
  if (vm.hostId === i.targetHostId) {
    await powerOff(i.sourceStateDir, 0);
    await removeVmStateDir(ctx, i.sourceStateDir);
    if (i.storage) await cleanUpStorageMove(ctx.store, i.storage);
    return { finished: await getVmView(ctx.store, vm.id), detail: "" };
  }
  const sourceStatus = await runStatusOf(i.sourceStateDir);
  const targetStatus = await runStatusOf(i.targetStateDir);
  if (targetStatus === "running" && sourceStatus !== "running" && i.targetStateDir) {
    const pid = livePid(i.targetStateDir);
    await ctx.store.tx(async (s) => {
      await s.vms.update(vm.id, { hostId: i.targetHostId, stateDir: i.targetStateDir, pid, powerState: "running", crashed: false });
      if (i.storage) await applyStorageMoveRecords(s, vm.id, i.storage);
    });
    await powerOff(i.sourceStateDir, 0);
    await removeVmStateDir(ctx, i.sourceStateDir);
    if (i.storage) await cleanUpStorageMove(ctx.store, i.storage);
    return { finished: await getVmView(ctx.store, vm.id), detail: "" };
  }
  if (i.targetStateDir) {
    await powerOff(i.targetStateDir, 0);
    await removeVmStateDir(ctx, i.targetStateDir, i.targetHostId);
  }
  if (i.storage) await removeMoveTarget(ctx.store, vm.id, i.storage);
  // A source of a datastore move may still run its mirror (into the target just removed) or
  // wait at the pause before the switch-over: cancel both, then run the guest on.
  if (sourceStatus !== null && (sourceStatus !== "running" || i.storage)) {
    const p = await QemuProcess.reattach(i.sourceStateDir, { timeoutMs: 5000 }).catch(() => null);
    if (p && i.storage) {
      await p.qmp.execute("migrate_cancel").catch(() => undefined);
      await abandonMirror(p.qmp);
    }
    if (p && (await p.status({ timeoutMs: 5000 }).catch(() => null)) !== "running") await p.resume().catch(() => undefined);
    await p?.detach().catch(() => undefined);
  }
  return { finished: null, detail: `the engine stopped during the migration; the VM runs on at host ${i.sourceHostId} and the target QEMU was removed` };
}
