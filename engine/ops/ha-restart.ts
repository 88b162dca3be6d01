/**
 * HA restart (S6): a VM that asked for it (`ha_restart`) and whose host was lost is restarted by
 * another host, but only once the lost host is fenced: judged down (its heartbeat, its lease,
 * stopped) and its QEMU provably gone from the VM's disk (no process holds the image's lock).
 * The record moves in one transaction that checks it is still on the lost host, so of all the
 * hosts that try, exactly one takes it; a VM whose disk is still held stays where it is, reported.
 */
import { imageInUse } from "../disk";
import { LOCAL_HOST_ID, type Vm } from "../model";
import type { Inventory } from "../store";
import type { OpContext } from "./context";
import { datastoreVisibleFrom } from "./datastore";
import { DEFAULT_HEARTBEAT_INTERVAL_MS, judgeHostStatus, MISSED_HEARTBEATS_FOR_DOWN } from "./hosts";

/** What one pass over a lost host's VMs did. */
export interface HaRestartReport {
  /** VMs this host took over and asked its runner to start. */
  restarted: string[];
  /** VMs whose disk a process still holds: not fenced, left where they are. */
  notFenced: string[];
  /** VMs whose disk this host cannot read or check (another host's datastore, a missing file), or whose start was refused. */
  unreachable: string[];
}

/** The VMs of `lostHostId` that ask for an HA restart and were running when it was lost. */
async function candidates(store: Inventory, lostHostId: string): Promise<Vm[]> {
  return (await store.vms.list({ hostId: lostHostId })).filter((vm) => vm.haRestart === true && vm.powerState === "running");
}

/**
 * Restarts here the HA VMs of a host judged down: fenced ones are moved to this host (their
 * record says stopped, no process) and `start` is asked to start each (a `vm.start` job).
 */
export async function restartLostHostVms(ctx: OpContext, lostHostId: string, start: (vmId: string) => Promise<void>): Promise<HaRestartReport> {
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  const downAfterMs = ctx.settings.hostDownAfterMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_FOR_DOWN;
  const report: HaRestartReport = { restarted: [], notFenced: [], unreachable: [] };
  if (lostHostId === self) return report;
  for (const vm of await candidates(ctx.store, lostHostId)) {
    // One VM that cannot be checked or started must not keep the others of the lost host waiting.
    const outcome = await restartOne(ctx, vm, lostHostId, self, downAfterMs, start).catch((err: unknown) => {
      ctx.log.debug({ err, vmId: vm.id, lostHostId }, "an HA VM of a lost host could not be checked or started here");
      return "unreachable" as const;
    });
    if (outcome) report[outcome].push(vm.id);
  }
  return report;
}

/** Takes over and starts one VM of the lost host when it is fenced; null when another host took it first. */
async function restartOne(
  ctx: OpContext,
  vm: Vm,
  lostHostId: string,
  self: string,
  downAfterMs: number,
  start: (vmId: string) => Promise<void>,
): Promise<keyof HaRestartReport | null> {
  const ds = await ctx.store.datastores.get(vm.datastoreId);
  const top = await ctx.store.layers.get(vm.diskLayerId);
  if (!ds || !top || !datastoreVisibleFrom(ds, self)) return "unreachable";
  if (await imageInUse(top.path)) return "notFenced";
  const taken = await ctx.store.tx(async (s) => {
    const now = await s.vms.get(vm.id);
    const host = await s.hosts.get(lostHostId);
    if (!now || now.hostId !== lostHostId || !host || judgeHostStatus(host, Date.now(), downAfterMs).status !== "down") return false;
    await s.vms.update(vm.id, { hostId: self, powerState: "stopped", pid: null, stateDir: null, crashed: false });
    return true;
  });
  if (!taken) return null;
  ctx.log.warn({ vmId: vm.id, from: lostHostId }, "restarting a VM of a lost host here (ha_restart)");
  await start(vm.id);
  return "restarted";
}
