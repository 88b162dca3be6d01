/** A VM as users see it: its record with the facts of its disk chain and of its QEMU now. */
import { existsSync } from "node:fs";
import { vmDir } from "../disk";
import { notFound } from "../errors";
import { LOCAL_HOST_ID, type Datastore, type DiskLayer, type Host, type HostStatus, type MissingAckPolicy, type RecordState, type Vm } from "../model";
import type { Inventory } from "../store";
import { livePid } from "../hypervisor";
import { judgeHostStatus } from "./hosts";

/** A VM with the facts of its disk; `state` is `drifted` when its disk file is gone now. */
export interface VmView extends Vm {
  hostId: string;
  migrationNotifyTimeoutSeconds: number;
  migrationOnMissingAck: MissingAckPolicy;
  diskPath: string;
  contentId: string | null;
  /** Paths of its disk's layers, top first. */
  diskChain: string[];
  chainDepth: number;
  /** The layers of its disk, top first, with their content IDs. */
  diskLayers: { path: string; contentId: string | null; parentContentId: string | null }[];
  /** True when its QEMU died without clonefleet stopping it (found at restart or now). */
  crashed: boolean;
  /** Whether its host's agent is up (judged from the host's heartbeat); `down`: what the view says of it is the last the inventory knew. */
  hostState: HostStatus;
}

/** The host answering a read, and after how long without a heartbeat it takes another host for down. */
export interface ViewPoint {
  hostId: string;
  downAfterMs: number;
}

/**
 * The VM with this id and its disk facts; 404 when unknown. `here` is the host answering: a VM
 * of another host is described from its record (its process and files are on that host's
 * machine), with that host's state; without it, the VM is looked at as this machine's.
 */
export async function getVmView(store: Inventory, id: string, here?: ViewPoint): Promise<VmView> {
  const vm = await store.vms.get(id);
  if (!vm) throw notFound("vm", id, "id");
  return vmView(store, vm, here);
}

/** Every VM, optionally of one fleet, datastore or template. */
export async function listVmViews(store: Inventory, filter: { fleetId?: string; datastoreId?: string; templateId?: string } = {}, here?: ViewPoint): Promise<VmView[]> {
  const vms = await store.vms.list(filter);
  // Hosts and datastores read once for the whole list, not once per VM of another host.
  const known = here && vms.some((vm) => (vm.hostId ?? LOCAL_HOST_ID) !== here.hostId) ? await hostsAndDatastores(store) : undefined;
  return Promise.all(vms.map((vm) => vmView(store, vm, here, known)));
}

/** Every host and datastore by id, for describing many VMs of other hosts at once. */
interface KnownRecords {
  hosts: Map<string, Host>;
  datastores: Map<string, Datastore>;
}

async function hostsAndDatastores(store: Inventory): Promise<KnownRecords> {
  return {
    hosts: new Map((await store.hosts.list()).map((h) => [h.id, h])),
    datastores: new Map((await store.datastores.list()).map((d) => [d.id, d])),
  };
}

/** The top disk layer of each of `vms` by layer id, read in one statement. */
export async function topLayersOf(store: Inventory, vms: readonly Vm[]): Promise<Map<string, DiskLayer>> {
  return new Map((await store.layers.getMany(vms.map((vm) => vm.diskLayerId))).map((l) => [l.id, l]));
}

/** The state a VM is in now: drifted when its record says so or its disk record or file is gone. */
export function liveVmState(vm: Vm, layer: DiskLayer | null, canSeeFile = true): RecordState {
  return vm.state === "ready" && layer !== null && layer.state === "ready" && (!canSeeFile || existsSync(layer.path)) ? "ready" : "drifted";
}

/**
 * What the answering host can know of a VM's host: `up` and able to look at the VM itself when
 * the VM is its own; otherwise the host's state from its heartbeat, and whether the VM's disk
 * file is on a datastore this machine reads.
 */
async function vantage(store: Inventory, vm: Vm, here: ViewPoint | undefined, known?: KnownRecords): Promise<{ own: boolean; hostState: HostStatus; seesDisk: boolean }> {
  const hostId = vm.hostId ?? LOCAL_HOST_ID;
  if (here === undefined || hostId === here.hostId) return { own: true, hostState: "up", seesDisk: true };
  const host = known ? (known.hosts.get(hostId) ?? null) : await store.hosts.get(hostId);
  const ds = known ? (known.datastores.get(vm.datastoreId) ?? null) : await store.datastores.get(vm.datastoreId);
  return {
    own: false,
    hostState: host ? judgeHostStatus(host, Date.now(), here.downAfterMs).status : "down",
    seesDisk: ds !== null && (ds.hostId === null || ds.hostId === here.hostId),
  };
}

/** The view of `vm`: its disk chain walked from the inventory, its power state checked against its process where this host can. */
async function vmView(store: Inventory, vm: Vm, here?: ViewPoint, known?: KnownRecords): Promise<VmView> {
  const seen = await vantage(store, vm, here, known);
  const layer = await store.layers.get(vm.diskLayerId);
  const chain: string[] = [];
  const layers: VmView["diskLayers"] = [];
  let cursor: DiskLayer | null = layer;
  let backing: string | null = null;
  // Bounded walk: a chain is never deeper than this, and a bad record must not loop forever.
  for (let depth = 0; cursor && depth < 256; depth++) {
    chain.push(cursor.path);
    layers.push({ path: cursor.path, contentId: cursor.contentId, parentContentId: cursor.parentContentId });
    backing = cursor.backingPath;
    cursor = backing ? await store.layers.findByPath(backing) : null;
    if (!cursor && backing) {
      chain.push(backing);
      layers.push({ path: backing, contentId: null, parentContentId: null });
    }
  }
  // The record says what clonefleet did; the process says what is true now (on the VM's own host).
  const pid = vm.powerState !== "running" ? null : seen.own ? livePid(vm.stateDir) : (vm.pid ?? null);
  const died = seen.own && vm.powerState === "running" && pid === null;
  return {
    ...vm,
    state: liveVmState(vm, layer, seen.seesDisk),
    hostId: vm.hostId ?? LOCAL_HOST_ID,
    hostState: seen.hostState,
    migrationNotifyTimeoutSeconds: vm.migrationNotifyTimeoutSeconds ?? 0,
    migrationOnMissingAck: vm.migrationOnMissingAck ?? "proceed",
    diskPath: layer?.path ?? vmDir((await store.datastores.get(vm.datastoreId))?.path ?? "/", vm.id),
    contentId: layer?.contentId ?? null,
    diskChain: chain,
    chainDepth: chain.length,
    diskLayers: layers,
    powerState: seen.own ? (pid !== null ? "running" : "stopped") : vm.powerState,
    pid,
    crashed: Boolean(vm.crashed) || died,
  };
}

