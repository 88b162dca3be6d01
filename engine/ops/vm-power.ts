/**
 * The VM runtime: power a VM on from its record (its disk chain, its machine, the accelerator
 * setting of the VM or the host), stop it (graceful with a deadline, then kill), tell whether
 * its QEMU lives, and find running VMs again after an engine restart. A VM's QEMU state
 * folder is `<engine state>/vms/<vmId>/`; its QEMU outlives the engine.
 */
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { newContentId, ownedPath, removeOwnedTree } from "../disk";
import { conflict, incompatible, internal, invalidField, notFound } from "../errors";
import {
  AGENT_PORT_NAME,
  AccelUnavailableError,
  NOTIFY_PORT_NAME,
  QemuProcess,
  isAccelSetting,
  probeVm,
  resolveAccel,
  type DiskSpec,
  type VmSpec,
} from "../hypervisor";
import { LOCAL_HOST_ID, idProblem, type DiskLayer, type Vm, type VmMachine } from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { faultHold } from "./fault-hold";
import { RAM_FILE, prepareRamFile, removeRamFile, sweepRamFiles } from "./guest-ram";
import { getVmView, type VmView } from "./vm-view";
import { livePid } from "../hypervisor";

export { livePid };

/** Default time a guest gets to power off on `stop` before QEMU is told to quit. */
export const DEFAULT_STOP_TIMEOUT_MS = 30000;

/** A request to power a VM on. */
export interface StartVmRequest {
  id: string;
  /** Sets the VM's own accelerator setting (kept for later starts); the host's when absent. */
  accel?: "auto" | "kvm" | "tcg";
}

/** A request to power a VM off. */
export interface StopVmRequest {
  id: string;
  /** Time the guest gets to power off (ACPI) before QEMU quits; 0 quits at once. */
  timeoutMs?: number;
}

const locks = new Map<string, Promise<unknown>>();

/** Runs `fn` while no other power or fork operation runs on the same VM (one engine process). */
export async function withVmLock<T>(vmId: string, fn: () => Promise<T>): Promise<T> {
  const prior = locks.get(vmId) ?? Promise.resolve();
  const run = prior.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(vmId, tail);
  try {
    return await run;
  } finally {
    if (locks.get(vmId) === tail) locks.delete(vmId);
  }
}

/** The state folder a VM's QEMU uses; throws internal when the engine has no VM state root, 400 (vm_id) for an id that is not a VM id. */
export function vmStateDir(ctx: OpContext, vmId: string): string {
  if (!ctx.settings.vmStateRoot) throw internal("finding the VM state folder", new Error("the engine has no VM state root configured"));
  return vmStateDirIn(ctx.settings.vmStateRoot, vmId);
}

/** The state folder of VM `vmId` under the VM state root `root`; throws 400 (vm_id) unless `vmId` is a VM id, so no id walks out of `root`. */
export function vmStateDirIn(root: string, vmId: string): string {
  const problem = idProblem("vm", vmId);
  if (problem) throw invalidField("vm_id", problem);
  return path.join(root, vmId);
}

/** The VM state root of host `hostId` (this engine's own when null): from settings for this engine, else from the host's record. */
async function vmStateRootOf(ctx: OpContext, hostId: string | null | undefined): Promise<string | null> {
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  const id = hostId ?? self;
  return (id === self ? ctx.settings.vmStateRoot : undefined) ?? (await ctx.store.hosts.get(id))?.vmStateRoot ?? null;
}

/**
 * Removes a VM state folder of host `hostId` (this engine's when null) after proving it lies
 * inside that host's VM state root; throws internal (cause OutsideOwnedFolderError) and
 * removes nothing otherwise.
 */
export async function removeVmStateDir(ctx: OpContext, dir: string, hostId?: string | null): Promise<void> {
  const root = await vmStateRootOf(ctx, hostId);
  if (!root) throw internal(`removing the VM state folder ${dir}`, new Error(`no VM state root is known for host ${hostId ?? ctx.settings.hostId ?? LOCAL_HOST_ID}`));
  try {
    await removeOwnedTree(root, dir);
  } catch (err) {
    throw internal(`removing the VM state folder ${dir}`, err);
  }
}

/** Memory, vCPUs and kernel of a VM: its own record's (forks) or its template's; throws 409 when neither exists. */
export async function machineOf(store: Inventory, vm: Vm): Promise<VmMachine> {
  if (vm.machine) return vm.machine;
  const t = vm.templateId ? await store.templates.get(vm.templateId) : null;
  if (!t) throw conflict(`VM ${vm.name} has no template to read its memory and vCPUs from`, "id");
  return { memoryMb: t.memoryMb, vcpus: t.vcpus, kernel: t.kernel, initrd: t.initrd, cmdline: t.cmdline };
}

/** The layers of a VM's disk, top first, from the inventory; throws 409 when a layer record is missing. */
export async function diskLayersOf(store: Inventory, vm: Vm): Promise<DiskLayer[]> {
  const layers: DiskLayer[] = [];
  let cursor = await store.layers.get(vm.diskLayerId);
  // Bounded walk: a bad record must not loop forever.
  for (let depth = 0; cursor && depth < 256; depth++) {
    layers.push(cursor);
    const backing: string | null = cursor.backingPath;
    if (!backing) return layers;
    const next = await store.layers.findByPath(backing);
    if (!next) throw conflict(`VM ${vm.name}: the layer ${backing} of its disk has no record`, "id");
    cursor = next;
  }
  if (layers.length === 0) throw conflict(`VM ${vm.name} has no disk layer record`, "id");
  return layers;
}

/**
 * The QEMU disk of a VM's chain: node `disk0` on the top layer, backing nodes named `disk0-b1`…
 * A backing layer that other disks share (a template's disk, a base a fork froze, an
 * instant-clone parent's frozen layer) is opened read-only outright (see DiskLayerRef.readOnly),
 * and so is every layer below it; one private to this chain stays
 * auto-read-only, so a commit job can still write into it.
 */
export async function diskSpecOf(layers: readonly DiskLayer[], store?: Inventory): Promise<DiskSpec> {
  const inChain = new Set(layers.map((l) => l.path));
  const sharedFlags = await Promise.all(
    layers.map(async (l) => !store || l.ownerKind === "template" || l.ownerKind === "parent" || (await store.layers.list({ datastoreId: l.datastoreId })).some((o) => o.backingPath === l.path && !inChain.has(o.path))),
  );
  // Every layer below a shared one is shared too: the other disks read through it (a VM captured
  // twice has its first parent's former frozen layer below the second parent's).
  const below = layers.slice(1);
  const firstShared = sharedFlags.slice(1).findIndex(Boolean);
  return { path: layers[0].path, nodeName: "disk0", backingChain: below.map((l, i) => (firstShared !== -1 && i >= firstShared ? { path: l.path, readOnly: true } : { path: l.path })) };
}

/** The spec a VM's QEMU starts from. */
export async function vmSpecOf(store: Inventory, vm: Vm, stateDir: string, accel: "kvm" | "tcg", over: Partial<VmSpec> = {}): Promise<VmSpec> {
  const m = await machineOf(store, vm);
  return {
    name: vm.name,
    stateDir,
    accel,
    memoryMb: m.memoryMb,
    vcpus: m.vcpus,
    disks: [await diskSpecOf(await diskLayersOf(store, vm), store)],
    kernel: m.kernel ? { kernel: m.kernel, initrd: m.initrd ?? undefined, cmdline: m.cmdline ?? undefined } : undefined,
    memoryFile: { path: path.join(stateDir, RAM_FILE), share: true },
    // Every VM gets the same guest channels and an identity in fw_cfg, so the device set of a
    // VM captured as an instant-clone parent (or forked) matches its children's, and each child
    // reads its own id there (docs/engine-api.md, "How a guest learns it is a clone").
    serialPorts: [{ name: AGENT_PORT_NAME }, { name: NOTIFY_PORT_NAME }],
    identity: vm.id,
    ...over,
  };
}

async function chooseAccel(ctx: OpContext, vm: Vm, asked: string | undefined): Promise<"kvm" | "tcg"> {
  const setting = asked ?? vm.accelOverride ?? ctx.settings.accel ?? "auto";
  if (!isAccelSetting(setting)) throw invalidField("accel", `must be auto, kvm or tcg (got ${JSON.stringify(setting)})`);
  try {
    return (await resolveAccel(setting)).accel;
  } catch (err) {
    if (err instanceof AccelUnavailableError) throw incompatible(`accel: ${err.message}`, "accel");
    throw err;
  }
}

/** Checks a start request: 404 for an unknown VM, 400 (accel) for a bad accelerator, 409 for a drifted VM. Changes nothing. */
export async function checkVmStart(store: Inventory, req: StartVmRequest): Promise<Vm> {
  if (req.accel !== undefined && !isAccelSetting(req.accel)) throw invalidField("accel", `must be auto, kvm or tcg (got ${JSON.stringify(req.accel)})`);
  const vm = await store.vms.get(req.id);
  if (!vm) throw notFound("vm", req.id, "id");
  if ((await getVmView(store, vm.id)).state === "drifted") throw conflict(`VM ${vm.name} is drifted (its disk vanished); it cannot start`, "id");
  return vm;
}

/** Checks a stop request: 404 for an unknown VM, 400 (timeout_seconds) outside 0–3600 s. Changes nothing. */
export async function checkVmStop(store: Inventory, req: StopVmRequest): Promise<Vm> {
  if (req.timeoutMs !== undefined && (!Number.isFinite(req.timeoutMs) || req.timeoutMs < 0 || req.timeoutMs > 3600_000)) {
    throw invalidField("timeout_seconds", "must be from 0 to 3600");
  }
  const vm = await store.vms.get(req.id);
  if (!vm) throw notFound("vm", req.id, "id");
  return vm;
}

/**
 * Powers a VM on (idempotent: a running VM is left as it is): gives its top layer a new
 * content ID (its content will change), starts a detached QEMU on its chain with its RAM in
 * a shared file, records pid, accelerator and state folder. Throws 404 for an unknown VM,
 * 409 for a drifted one, 400/409 for a bad or unavailable accelerator, 500 naming the step.
 */
export async function startVm(ctx: OpContext, req: StartVmRequest): Promise<VmView> {
  await checkVmStart(ctx.store, req);
  return withVmLock(req.id, async () => {
    const vm = await checkVmStart(ctx.store, req);
    const stateDir = vm.stateDir ?? vmStateDir(ctx, vm.id);
    const pid = livePid(stateDir);
    if (req.accel !== undefined) await ctx.store.tx(async (s) => await s.vms.update(vm.id, { accelOverride: req.accel }));
    if (pid !== null) {
      await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "running", pid, stateDir, crashed: false }));
      return getVmView(ctx.store, vm.id);
    }
    const accel = await chooseAccel(ctx, { ...vm, accelOverride: req.accel ?? vm.accelOverride }, undefined);
    const spec = await vmSpecOf(ctx.store, vm, stateDir, accel);
    await fs.mkdir(stateDir, { recursive: true, mode: 0o700 });
    // A cold start must not see the RAM of an earlier run.
    await prepareRamFile(stateDir);
    const top = (await ctx.store.layers.get(vm.diskLayerId))!;
    await ctx.store.tx(async (s) => await s.layers.update(top.id, { contentId: newContentId() }));
    await syncCatalog(ctx.store, top.datastoreId);
    let proc: QemuProcess;
    try {
      proc = await QemuProcess.start(spec, { signal: ctx.signal });
    } catch (err) {
      throw internal(`starting QEMU for VM ${vm.name}`, err);
    }
    await proc.detach();
    await faultHold(ctx, "CLONEFLEET_FAULT_VM_HOLD", "start:after-spawn");
    await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "running", pid: proc.pid, accel, stateDir, crashed: false }));
    ctx.log.info({ vmId: vm.id, pid: proc.pid, accel }, "VM started");
    return getVmView(ctx.store, vm.id);
  });
}

/**
 * Powers a VM off (idempotent): ACPI power-down with `timeoutMs` to obey, then `quit`, then
 * SIGKILL; removes its RAM file. Throws 404 for an unknown VM.
 */
export async function stopVm(ctx: OpContext, req: StopVmRequest): Promise<VmView> {
  await checkVmStop(ctx.store, req);
  return withVmLock(req.id, async () => {
    const vm = await checkVmStop(ctx.store, req);
    await powerOff(vm.stateDir, req.timeoutMs ?? stopTimeoutMsOf(vm));
    await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "stopped", pid: null, crashed: false }));
    ctx.log.info({ vmId: vm.id }, "VM stopped");
    return getVmView(ctx.store, vm.id);
  });
}

/** How long a stop of `vm` waits for its guest by default: its own setting, else DEFAULT_STOP_TIMEOUT_MS. */
export function stopTimeoutMsOf(vm: Vm): number {
  return vm.stopTimeoutSeconds === null || vm.stopTimeoutSeconds === undefined ? DEFAULT_STOP_TIMEOUT_MS : vm.stopTimeoutSeconds * 1000;
}

/** Stops the QEMU of a state folder if one lives there (graceful for `timeoutMs`, then quit, then kill) and removes its RAM file. */
export async function powerOff(stateDir: string | null | undefined, timeoutMs: number): Promise<void> {
  if (!stateDir) return;
  if (livePid(stateDir) !== null) {
    try {
      const proc = await QemuProcess.reattach(stateDir, { timeoutMs: 5000 });
      await proc.shutdown({ powerdownTimeoutMs: timeoutMs });
    } catch (err) {
      void err;
      // A monitor that does not answer: kill the process group outright.
      const pid = livePid(stateDir);
      if (pid !== null) {
        try {
          process.kill(-pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      await waitGone(stateDir);
    }
  }
  await removeRamFile(stateDir);
}

async function waitGone(stateDir: string): Promise<void> {
  for (let i = 0; i < 200 && livePid(stateDir) !== null; i++) await new Promise((r) => setTimeout(r, 25));
}

/** What the runtime reconciliation at start found. */
export interface VmRuntimeReport {
  /** Running VMs whose QEMU answered on its QMP socket again. */
  reattachedVms: string[];
  /** VMs recorded running whose QEMU had died: now stopped and flagged `crashed`. */
  crashedVms: string[];
  /** State folders no VM record owns; any QEMU in them was killed and the folder removed. */
  removedStateDirs: string[];
  /** Guest RAM files no live QEMU of this host used (see sweepRamFiles), and other roots' gone RAM folders. */
  removedRamFiles: string[];
}

/**
 * At engine start, after interrupted jobs were recovered: reattaches to each VM recorded
 * running (connects to its QMP socket, asks its status, lets go), marks those whose process
 * died as stopped and crashed, and removes state folders no VM owns.
 */
export async function reconcileVmRuntime(ctx: OpContext): Promise<VmRuntimeReport> {
  const report: VmRuntimeReport = { reattachedVms: [], crashedVms: [], removedStateDirs: [], removedRamFiles: [] };
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  // Only this host's VMs: the QEMU processes of other hosts' VMs are theirs to find (S6).
  for (const vm of await ctx.store.vms.list()) {
    if (vm.powerState !== "running" || (vm.hostId ?? LOCAL_HOST_ID) !== self) continue;
    let alive = false;
    if (vm.stateDir && livePid(vm.stateDir) !== null) {
      try {
        const proc = await QemuProcess.reattach(vm.stateDir, { timeoutMs: 5000 });
        const status = await proc.status({ timeoutMs: 5000 });
        await proc.detach();
        alive = true;
        ctx.log.info({ vmId: vm.id, status }, "reattached to a running VM");
        report.reattachedVms.push(vm.id);
      } catch (err) {
        ctx.log.warn({ vmId: vm.id, err: (err as Error).message }, "a running VM's monitor did not answer");
        alive = livePid(vm.stateDir) !== null;
        if (alive) report.reattachedVms.push(vm.id);
      }
    }
    if (!alive) {
      await ctx.store.tx(async (s) => await s.vms.update(vm.id, { powerState: "stopped", pid: null, crashed: true }));
      report.crashedVms.push(vm.id);
      ctx.log.warn({ vmId: vm.id }, "a running VM's QEMU died while the engine was away; marked stopped and crashed");
    }
  }
  const root = ctx.settings.vmStateRoot;
  if (root) {
    const entries = await fs.readdir(root).catch(() => [] as string[]);
    for (const name of entries) {
      const dir = path.join(root, name);
      const owner = await ctx.store.vms.get(name);
      // A folder is the VM's while its record names it (or names none yet) and the VM is still
      // this host's; a migration's target folder whose VM stayed on its source is left over
      // from an interrupted migration, and a VM another host took over (HA restart) is not ours
      // to run: its QEMU here, if any, is stopped.
      if (owner && (owner.hostId ?? LOCAL_HOST_ID) === self && (!owner.stateDir || owner.stateDir === dir)) continue;
      // An entry that resolves outside the root (a planted symlink) is not the engine's to stop or remove.
      if (!(await ownedPath(root, dir).then(() => true, (err: unknown) => (ctx.log.warn({ err, dir }, "left alone a VM state entry outside the VM state root"), false)))) continue;
      const probe = await probeVm(dir).catch(() => null);
      if (probe?.state === "running") await powerOff(dir, 0);
      const freed = await removeRamFile(dir);
      if (freed) report.removedRamFiles.push(freed);
      await removeVmStateDir(ctx, dir);
      report.removedStateDirs.push(dir);
    }
    // A VM whose QEMU is gone (crashed, killed from outside) needs no RAM: the next start makes a fresh one.
    for (const vm of await ctx.store.vms.list()) {
      if ((vm.hostId ?? LOCAL_HOST_ID) !== self || !vm.stateDir || livePid(vm.stateDir) !== null) continue;
      const freed = await removeRamFile(vm.stateDir);
      if (freed) report.removedRamFiles.push(freed);
    }
    const swept = await sweepRamFiles(root);
    report.removedRamFiles.push(...swept.removedFiles, ...swept.removedFolders);
    for (const dir of swept.refusedFolders) ctx.log.warn({ dir }, "a guest RAM folder on the tmpfs is not this engine's own private folder (someone else made it); left untouched: remove it, as VMs whose RAM would go there cannot start");
    if (report.removedRamFiles.length > 0) ctx.log.info({ removed: report.removedRamFiles }, "removed guest RAM files nothing used");
  }
  return report;
}
