import { promises as fs } from "node:fs";
import { vmDir } from "../disk";
import { conflict, EngineError, incompatible, invalidField, notFound } from "../errors";
import {
  FLEET_DATASTORES_MAX,
  FLEET_SIZE_RANGE,
  intRangeProblem,
  JOB_KINDS,
  LOCAL_HOST_ID,
  namePrefixProblem,
  newId,
  nowIso,
  type CloneMode,
  type Datastore,
  type Fleet,
  type ProvisionedBy,
  type RecordState,
  type Vm,
  type VmPowerState,
} from "../model";
import { StoreConstraintError, type Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { livePid, startVm } from "./vm-power";
import { placeClones, PlacementError, spreadOverHosts, type HostCandidate } from "./placement";
import { sortPoolCopies } from "./pool";
import { datastoreReach, datastoreVisibleFrom, measureDatastore } from "./datastore";
import { DEFAULT_HEARTBEAT_INTERVAL_MS, judgeHostStatus, MISSED_HEARTBEATS_FOR_DOWN } from "./hosts";
import { cloneSource, provisionerFor, removeTargetFiles, type CloneSource, type CloneTarget } from "./provision";
import { checkCloneMode, removeVms, type VmFilesRemoval } from "./vm";
import { liveVmState, topLayersOf } from "./vm-view";

/** The job kind that applies a fleet. */
export const APPLY_FLEET_KIND = JOB_KINDS.applyFleet;

/** What a fleet should be, as declared by a user (POST or PUT). */
export interface FleetSpec {
  templateId: string;
  size: number;
  datastoreIds: string[];
  /** Members are named `<prefix>-<n>`; defaults to the template's name (or, on update, the fleet's prefix). */
  namePrefix: string | null;
  cloneMode: CloneMode;
  powerState: VmPowerState;
  /** One host for every member: the same as `hostIds` naming it alone. */
  hostId?: string | null;
  /** The hosts members may live on; absent or null: every host that is up at an apply. */
  hostIds?: string[] | null;
}

/** The job request of `fleet.apply`: the fleet to bring to its declaration, and that declaration as submitted. */
export interface ApplyFleetRequest {
  fleetId: string;
  spec: FleetSpec;
}

/** One member as users see it; `state` is `drifted` when its disk is gone now. */
export interface FleetMemberView {
  id: string;
  name: string;
  datastoreId: string;
  hostId: string;
  diskPath: string;
  homeDir: string;
  provisionedBy: ProvisionedBy;
  state: RecordState;
  createdAt: string;
}

/** `ready`: size members, all with their disks; `applying`: an apply is queued or running; `drifted`: otherwise. */
export type FleetState = "ready" | "applying" | "drifted";

/** A fleet with its members now. */
export interface FleetView extends Fleet {
  /** The one host of its members when it names exactly one, else null. */
  hostId: string | null;
  members: FleetMemberView[];
  membersReady: number;
  /** Members whose QEMU process lives now (checked against the process, like a VM's power_state). */
  membersRunning: number;
  state: FleetState;
}

/** A member an apply added, with how its disk was provisioned. */
export interface FleetChange {
  id: string;
  name: string;
  datastoreId: string;
  /** The host it lives on (absent in results recorded before hosts had fleets). */
  hostId?: string;
  diskPath: string;
  provisionedBy: ProvisionedBy;
}

/** What one apply did. */
export interface ApplyFleetResult {
  fleet: FleetView;
  added: FleetChange[];
  /** Members removed because the fleet shrank (newest first). */
  removed: { id: string; name: string }[];
  /** Members whose disk had vanished; removed and made again (they appear in `added` under the same name). */
  replaced: { id: string; name: string }[];
  /** Time spent making the new members' disks, ms. */
  provisionMs: number;
  elapsedMs: number;
}

/** What an apply is about to create, recorded before any file is touched. */
interface ApplyFleetIntent {
  fleetId: string;
  planned: { vmId: string; datastoreId: string }[];
}

/** Hosts a fleet may name. */
const FLEET_HOSTS_MAX = 64;

/** Room an overlay takes at first; a linked clone needs little more than its header. */
const LINKED_BYTES = 1024 * 1024;

/**
 * Checks a fleet declaration against the inventory, touching nothing, and fills in defaults;
 * `existing` is the fleet being redeclared. Throws a 4xx EngineError naming the first bad field
 * (an unknown template or datastore, a size out of range, another host, a linked fleet on a
 * datastore other than its template's, a change of template or prefix).
 */
export async function checkFleetSpec(store: Inventory, spec: FleetSpec, existing?: Fleet): Promise<FleetSpec & { namePrefix: string; hostIds: string[] | null }> {
  const hostIds = await checkFleetHosts(store, spec);
  const source = await cloneSource(store, spec.templateId, "template_id");
  if (existing && existing.templateId !== spec.templateId) {
    throw incompatible(`a fleet's template cannot change (fleet ${existing.id} clones ${existing.templateId}); declare another fleet`, "template_id");
  }
  const sizeIssue = intRangeProblem(spec.size, FLEET_SIZE_RANGE);
  if (sizeIssue) throw invalidField("size", sizeIssue);
  const cloneMode = checkCloneMode(spec.cloneMode);
  if (spec.powerState !== "stopped" && spec.powerState !== "running") {
    throw invalidField("power_state", `must be "running" or "stopped" (got ${JSON.stringify(spec.powerState)})`);
  }
  if (!Array.isArray(spec.datastoreIds) || spec.datastoreIds.length === 0) throw invalidField("datastore_ids", "must list at least one datastore");
  if (spec.datastoreIds.length > FLEET_DATASTORES_MAX) {
    throw invalidField("datastore_ids", `must list at most ${FLEET_DATASTORES_MAX} datastores (got ${spec.datastoreIds.length})`);
  }
  for (const [i, id] of spec.datastoreIds.entries()) {
    const field = `datastore_ids[${i}]`;
    if (spec.datastoreIds.indexOf(id) !== i) throw invalidField(field, `datastore ${id} is listed twice`);
    const ds = await store.datastores.get(id);
    if (!ds) throw invalidField(field, `unknown datastore ${JSON.stringify(id)}`);
    if (cloneMode === "linked" && ds.id !== source.datastore.id) {
      throw incompatible(
        `${field}: linked clones must live on their template's datastore ${source.datastore.name} (${source.datastore.id}), not ${ds.name}`,
        field,
      );
    }
  }
  const datastores = await Promise.all(spec.datastoreIds.map(async (id) => (await store.datastores.get(id))!));
  fleetHostOf(datastores);
  for (const [i, ds] of datastores.entries()) {
    if (hostIds && ds.hostId !== null && !hostIds.includes(ds.hostId)) {
      throw incompatible(`datastore_ids[${i}]: datastore ${ds.name} is local to host ${ds.hostId}, which the fleet's hosts (${hostIds.join(", ")}) do not include`, `datastore_ids[${i}]`);
    }
  }
  const namePrefix = spec.namePrefix ?? existing?.namePrefix ?? source.template.name;
  const prefixIssue = namePrefixProblem(namePrefix);
  if (prefixIssue) throw invalidField("name_prefix", spec.namePrefix === null ? `the template's name cannot serve as prefix: ${prefixIssue}` : prefixIssue);
  if (existing && existing.namePrefix !== namePrefix) {
    throw incompatible(`a fleet's name prefix cannot change (fleet ${existing.id} is ${existing.namePrefix}); declare another fleet`, "name_prefix");
  }
  if (!existing) {
    const other = await store.fleets.findByNamePrefix(namePrefix);
    if (other) throw conflict(`a fleet with name prefix ${JSON.stringify(namePrefix)} already exists (${other.id})`, "name_prefix");
  }
  return { ...spec, cloneMode, namePrefix, hostIds };
}

/** The hosts a declaration restricts members to (null: any host that is up); 400/404 naming `host_ids[i]` or `host_id`. */
async function checkFleetHosts(store: Inventory, spec: FleetSpec): Promise<string[] | null> {
  const given = spec.hostIds ?? null;
  if (spec.hostId !== undefined && spec.hostId !== null) {
    if (given !== null) throw invalidField("host_id", "give host_id (one host) or host_ids, not both");
    if (!(await store.hosts.get(spec.hostId)) && spec.hostId !== LOCAL_HOST_ID) throw notFound("host", spec.hostId, "host_id");
    return [spec.hostId];
  }
  if (given === null) return null;
  if (!Array.isArray(given) || given.length === 0) throw invalidField("host_ids", "must list at least one host, or be left out for every host");
  if (given.length > FLEET_HOSTS_MAX) throw invalidField("host_ids", `must list at most ${FLEET_HOSTS_MAX} hosts (got ${given.length})`);
  for (const [i, id] of given.entries()) {
    const field = `host_ids[${i}]`;
    if (typeof id !== "string" || id.length === 0) throw invalidField(field, "must name a host");
    if (given.indexOf(id) !== i) throw invalidField(field, `host ${id} is listed twice`);
    if (!(await store.hosts.get(id)) && id !== LOCAL_HOST_ID) throw notFound("host", id, field);
  }
  return [...given];
}

/**
 * The host whose agent applies a fleet: the one host whose own datastores it lists (it alone
 * can write their files), or null when it lists only shared ones (the receiving host then;
 * members still spread over every host). 409 naming `datastore_ids[i]` for a fleet over two
 * hosts' own datastores, which no single agent can write. Pure.
 */
export function fleetHostOf(datastores: readonly Datastore[]): string | null {
  let host: string | null = null;
  for (const [i, ds] of datastores.entries()) {
    if (ds.hostId === null || ds.hostId === host) continue;
    if (host !== null) {
      throw incompatible(`datastore_ids[${i}]: datastore ${ds.name} is local to host ${ds.hostId}, another lists host ${host}'s own; a fleet's datastores are shared or one host's`, `datastore_ids[${i}]`);
    }
    host = ds.hostId;
  }
  return host;
}

/** The host that must run a `fleet.apply` job (see fleetHostOf; null: the receiving host). */
export async function fleetApplyHost(store: Inventory, req: Pick<ApplyFleetRequest, "fleetId">): Promise<string | null> {
  const fleet = await store.fleets.get(req.fleetId);
  if (!fleet) return null;
  const datastores = await Promise.all(fleet.datastoreIds.map((id) => store.datastores.get(id)));
  return fleetHostOf(datastores.filter((d): d is Datastore => d !== null));
}

/** Records a new fleet from a checked declaration, inside the caller's transaction; 409 naming `name_prefix` when the prefix is taken. */
export async function declareFleet(s: Inventory, spec: FleetSpec): Promise<Fleet> {
  const checked = await checkFleetSpec(s, spec);
  const now = nowIso();
  const fleet: Fleet = {
    id: newId("fleet"),
    namePrefix: checked.namePrefix,
    templateId: checked.templateId,
    size: checked.size,
    datastoreIds: [...checked.datastoreIds],
    cloneMode: checked.cloneMode,
    powerState: checked.powerState,
    createdAt: now,
    updatedAt: now,
    hostIds: checked.hostIds,
  };
  try {
    await s.fleets.insert(fleet);
  } catch (err) {
    if (err instanceof StoreConstraintError) throw conflict(`a fleet with name prefix ${JSON.stringify(fleet.namePrefix)} already exists`, "name_prefix");
    throw err;
  }
  return fleet;
}

/** Replaces an existing fleet's declaration (size, datastores, clone mode) inside the caller's transaction; 404 for an unknown fleet. */
export async function redeclareFleet(s: Inventory, id: string, spec: FleetSpec): Promise<Fleet> {
  const existing = await s.fleets.get(id);
  if (!existing) throw notFound("fleet", id, "id");
  const checked = await checkFleetSpec(s, spec, existing);
  await s.fleets.update(id, {
    size: checked.size,
    datastoreIds: [...checked.datastoreIds],
    cloneMode: checked.cloneMode,
    powerState: checked.powerState,
    hostIds: checked.hostIds,
    updatedAt: nowIso(),
  });
  return (await s.fleets.get(id)) as Fleet;
}

/**
 * Refuses a fleet apply (admission, inside the job's transaction): 404 for a fleet that no
 * longer exists, 409 naming the job while a `fleet.delete` of it is queued or running (the
 * apply would make members the deletion does not know of).
 */
export async function admitFleetApply(store: Inventory, req: ApplyFleetRequest): Promise<void> {
  const fleet = await store.fleets.get(req.fleetId);
  if (!fleet) throw notFound("fleet", req.fleetId, "id");
  const deleting = (await store.jobs.list({ states: ["queued", "running"] })).find((j) => j.kind === JOB_KINDS.deleteFleet && (j.request as { id?: string }).id === fleet.id);
  if (deleting) throw conflict(`fleet ${fleet.namePrefix} (${fleet.id}) is being deleted by job ${deleting.id} (${deleting.state}); it cannot be applied`, "id");
}

const fleetLocks = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` after every earlier call for the same fleet has ended: in this process first (so
 * one waiting connection per fleet at most), then under the inventory's hold on the fleet, which
 * on PostgreSQL every engine honours.
 */
async function withFleetLock<T>(store: Inventory, fleetId: string, fn: () => Promise<T>): Promise<T> {
  const previous = fleetLocks.get(fleetId) ?? Promise.resolve();
  const mine = previous
    .catch(() => undefined)
    .then(async () => {
      const release = await store.hold(`fleet:${fleetId}`);
      try {
        return await fn();
      } finally {
        await release();
      }
    });
  fleetLocks.set(fleetId, mine);
  try {
    return await mine;
  } finally {
    if (fleetLocks.get(fleetId) === mine) fleetLocks.delete(fleetId);
  }
}

/**
 * Brings a fleet to its declaration as it stands when the apply starts: members whose disk
 * vanished are removed and made again, extra members are removed newest first, and missing
 * ones are placed over the datastores and provisioned (ready pool copies moved in, the rest
 * copied, or overlays for a linked fleet). Applies of one fleet run one after the other.
 * Members made before a failure stay; the error names the step, and the next apply goes on.
 */
export async function applyFleet(ctx: OpContext, req: ApplyFleetRequest): Promise<ApplyFleetResult> {
  return withFleetLock(ctx.store, req.fleetId, async () => {
    const started = Date.now();
    const fleet = await ctx.store.fleets.get(req.fleetId);
    if (!fleet) throw notFound("fleet", req.fleetId, "id");
    const source = await cloneSource(ctx.store, fleet.templateId, "template_id");
    const datastores = await Promise.all(
      fleet.datastoreIds.map(async (id, i) => {
        const ds = await ctx.store.datastores.get(id);
        if (!ds) throw conflict(`datastore ${id} was removed; redeclare the fleet without it`, `datastore_ids[${i}]`);
        return ds;
      }),
    );

    const members = await ctx.store.vms.list({ fleetId: fleet.id });
    const tops = await topLayersOf(ctx.store, members);
    const states = members.map((vm) => liveVmState(vm, tops.get(vm.diskLayerId) ?? null));
    const drifted = members.filter((_, i) => states[i] === "drifted");
    let healthy = members.filter((vm) => !drifted.includes(vm));
    await removeVms(ctx, drifted);

    const removed: Vm[] = [];
    if (healthy.length > fleet.size) {
      const newestFirst = [...healthy].sort(newerFirst);
      removed.push(...newestFirst.slice(0, healthy.length - fleet.size));
      await removeVms(ctx, removed);
      healthy = healthy.filter((vm) => !removed.includes(vm));
    }

    const need = fleet.size - healthy.length;
    const added: FleetChange[] = [];
    let provisionMs = 0;
    if (need > 0) {
      const targets = await planMembers(ctx, fleet, source, datastores, healthy, need);
      await ctx.recordIntent({ fleetId: fleet.id, planned: targets.map((t) => ({ vmId: t.vmId, datastoreId: t.datastore.id })) } satisfies ApplyFleetIntent);
      let done = 0;
      let pooled = 0;
      const report = () => ctx.progress({ unit: "steps", done, total: need, message: `${done}/${need} members (${pooled} from pools)` });
      report();
      const t0 = performance.now();
      try {
        const made = await provisionerFor(fleet.cloneMode).provision(ctx, source, targets, (clone) => {
          done += 1;
          if (clone.vm.provisionedBy === "pool") pooled += 1;
          report();
        });
        for (const c of made) {
          added.push({ id: c.vm.id, name: c.vm.name, datastoreId: c.vm.datastoreId, hostId: c.vm.hostId ?? LOCAL_HOST_ID, diskPath: c.layer.path, provisionedBy: c.vm.provisionedBy });
        }
        added.sort((a, b) => memberNumber(a.name) - memberNumber(b.name));
      } finally {
        provisionMs = performance.now() - t0;
        for (const ds of new Set(targets.map((t) => t.datastore.id))) await syncCatalog(ctx.store, ds);
      }
    }
    // Members are powered to the declaration: on when running, left as they are when stopped.
    // This host starts its own; another host's agent starts each of its members (a vm.start job).
    if (fleet.powerState === "running") {
      const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
      const elsewhere: Promise<unknown>[] = [];
      for (const vm of await ctx.store.vms.list({ fleetId: fleet.id })) {
        if ((vm.hostId ?? LOCAL_HOST_ID) !== self) {
          // Its host recorded a pid once it started it; a new member has none yet.
          if (vm.powerState !== "running" || vm.pid === null || vm.pid === undefined) elsewhere.push(onHost(ctx, JOB_KINDS.startVm, { id: vm.id }));
        } else if (livePid(vm.stateDir) === null) await startVm(ctx, { id: vm.id });
      }
      await Promise.all(elsewhere);
    }
    const result: ApplyFleetResult = {
      fleet: await getFleetView(ctx.store, fleet.id, { fromApply: true }),
      added,
      removed: removed.map((vm) => ({ id: vm.id, name: vm.name })),
      replaced: drifted.map((vm) => ({ id: vm.id, name: vm.name })),
      provisionMs: Math.round(provisionMs * 1000) / 1000,
      elapsedMs: Date.now() - started,
    };
    ctx.log.info(
      { fleetId: fleet.id, added: added.length, removed: removed.length, replaced: drifted.length, fromPools: added.filter((a) => a.provisionedBy === "pool").length },
      "fleet applied",
    );
    return result;
  });
}

/**
 * After a crash: members the apply recorded stay; files of planned members without a record
 * are removed. Finished when every planned member was recorded, otherwise rolled back with a
 * sentence saying how far it got.
 */
export async function recoverFleetApply(ctx: OpContext, req: ApplyFleetRequest, intent: unknown): Promise<{ finished: ApplyFleetResult | null; detail: string }> {
  const i = intent as ApplyFleetIntent | null;
  const fleet = await ctx.store.fleets.get(req.fleetId);
  const name = fleet ? `fleet ${fleet.namePrefix}` : `fleet ${req.fleetId}`;
  if (!i || i.planned.length === 0) return { finished: null, detail: `the engine stopped while applying ${name} before it made any member; apply again` };
  let made = 0;
  const touched = new Set<string>();
  for (const p of i.planned) {
    if (await ctx.store.vms.get(p.vmId)) {
      made += 1;
      continue;
    }
    const ds = await ctx.store.datastores.get(p.datastoreId);
    if (!ds) continue;
    await removeTargetFiles(ds.path, p.vmId);
    touched.add(ds.id);
  }
  for (const ds of touched) await syncCatalog(ctx.store, ds);
  if (made === i.planned.length && fleet) {
    const view = await getFleetView(ctx.store, fleet.id, { fromApply: true });
    const added = view.members
      .filter((m) => i.planned.some((p) => p.vmId === m.id))
      .map((m) => ({ id: m.id, name: m.name, datastoreId: m.datastoreId, diskPath: m.diskPath, provisionedBy: m.provisionedBy }));
    return { finished: { fleet: view, added, removed: [], replaced: [], provisionMs: 0, elapsedMs: 0 }, detail: "" };
  }
  return {
    finished: null,
    detail: `the engine stopped while applying ${name}: ${made} of ${i.planned.length} new members were made and kept, the rest removed; apply again to finish`,
  };
}

/** The fleet with its members now; 404 for an unknown id. `fromApply` is set by an apply describing its own outcome, which must not count itself as pending. */
export async function getFleetView(store: Inventory, id: string, opts: { fromApply?: boolean } = {}): Promise<FleetView> {
  const fleet = await store.fleets.get(id);
  if (!fleet) throw notFound("fleet", id, "id");
  return fleetView(store, fleet, opts.fromApply ? 1 : 0);
}

/** Every fleet, optionally of one template. */
export async function listFleetViews(store: Inventory, filter: { templateId?: string } = {}): Promise<FleetView[]> {
  return Promise.all((await store.fleets.list(filter)).map((f) => fleetView(store, f)));
}

/**
 * Deletes a fleet and every member with its disk (records in one transaction, then folders).
 * 404 for an unknown fleet; 409 while an apply of it is queued or running.
 */
export async function deleteFleet(ctx: OpContext, id: string, beforeCommit?: (removal: VmFilesRemoval) => Promise<void> | void): Promise<void> {
  const members = await ctx.store.tx(async (s) => {
    await checkFleetDelete(s, id);
    return await s.vms.list({ fleetId: id });
  });
  // Members go the way any VM goes (QEMU stopped, snapshots, state folder, home), and the
  // fleet record only once they are gone, so a refusal (a member's disk backs a fork) keeps it.
  await removeVms(ctx, members, beforeCommit);
  await ctx.store.tx(async (s) => await s.fleets.delete(id));
  ctx.log.info({ fleetId: id, members: members.length }, "fleet deleted");
}

/** Checks that fleet `id` may be deleted: 404 when unknown, 409 while a job applies it. Changes nothing. */
export async function checkFleetDelete(store: Inventory, id: string): Promise<void> {
  const fleet = await store.fleets.get(id);
  if (!fleet) throw notFound("fleet", id, "id");
  const pending = (await pendingApplies(store, id))[0];
  if (pending) throw conflict(`fleet ${fleet.namePrefix} is being applied by job ${pending}; wait for it or cancel it first`, "id");
}

async function pendingApplies(s: Inventory, fleetId: string): Promise<string[]> {
  return (await s.jobs.list({ states: ["queued", "running"] }))
    .filter((j) => j.kind === APPLY_FLEET_KIND && (j.request as ApplyFleetRequest).fleetId === fleetId)
    .map((j) => j.id);
}

async function planMembers(
  ctx: OpContext,
  fleet: Fleet,
  source: CloneSource,
  datastores: Datastore[],
  healthy: Vm[],
  need: number,
): Promise<CloneTarget[]> {
  const measured = await Promise.all(datastores.map(measureDatastore));
  const st = await fs.stat(source.layer.path);
  // A full copy takes what the template's disk has allocated (holes stay holes).
  const bytesPerCopy = fleet.cloneMode === "linked" ? LINKED_BYTES : st.blocks * 512;
  const candidates = await Promise.all(
    measured.map(async (ds) => {
      const pool = fleet.cloneMode === "pool" ? await ctx.store.pools.find(fleet.templateId, ds.id) : null;
      const readyCopies = pool ? (await sortPoolCopies(ctx.store, pool, source.layer.contentId, { checkFiles: true })).usable.length : 0;
      return { datastoreId: ds.id, freeBytes: ds.freeBytes, readyCopies, members: healthy.filter((vm) => vm.datastoreId === ds.id).length };
    }),
  );
  let placed;
  try {
    placed = placeClones({ count: need, bytesPerCopy, candidates });
  } catch (err) {
    if (!(err instanceof PlacementError)) throw err;
    throw new EngineError(
      "CF_NO_SPACE",
      507,
      `datastore_ids: the datastores have room for ${err.placed} of ${need} new members of fleet ${fleet.namePrefix} (a copy needs ${bytesPerCopy} bytes)`,
      "datastore_ids",
    );
  }
  const byId = new Map(datastores.map((d) => [d.id, d]));
  const hostOf = await placeOnHosts(ctx, fleet, healthy, placed.map((p) => byId.get(p.datastoreId) as Datastore));
  const nameMember = memberNamer(fleet.namePrefix);
  return placed.map((p, i) => {
    const ds = byId.get(p.datastoreId) as Datastore;
    const vmId = newId("vm");
    return {
      vmId,
      datastore: ds,
      makeVm: async (s, layer, provisionedBy): Promise<Vm> => ({
        id: vmId,
        name: await nameMember(s),
        templateId: fleet.templateId,
        datastoreId: ds.id,
        diskLayerId: layer.id,
        homeDir: vmDir(ds.path, vmId),
        provisionedBy,
        cloneMode: fleet.cloneMode,
        fleetId: fleet.id,
        powerState: fleet.powerState,
        state: "ready",
        createdAt: nowIso(),
        hostId: hostOf[i],
      }),
    };
  });
}

/**
 * Chooses the host of each new member (whose datastore is given): among the fleet's hosts (all
 * when it names none) that are up and read the datastore, the one with the fewest members, then
 * the fewest running VMs. 409 naming `host_ids` when none can take a member.
 */
async function placeOnHosts(ctx: OpContext, fleet: Fleet, healthy: readonly Vm[], datastores: readonly Datastore[]): Promise<string[]> {
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  const now = Date.now();
  const downAfterMs = ctx.settings.hostDownAfterMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_FOR_DOWN;
  const up = (await ctx.store.hosts.list()).filter((h) => h.id === self || judgeHostStatus(h, now, downAfterMs).status === "up").map((h) => h.id);
  // An engine without a host record yet (started without its monitor) still places on itself.
  if (!up.includes(self)) up.push(self);
  const allowed = fleet.hostIds ? up.filter((id) => fleet.hostIds!.includes(id)) : up;
  const all = await ctx.store.datastores.list();
  const running = (await ctx.store.vms.list()).filter((v) => v.powerState === "running");
  const candidates: HostCandidate[] = allowed.map((hostId) => ({
    hostId,
    members: healthy.filter((vm) => (vm.hostId ?? LOCAL_HOST_ID) === hostId).length,
    runningVms: running.filter((v) => (v.hostId ?? LOCAL_HOST_ID) === hostId).length,
    reads: new Set(all.filter((d) => datastoreVisibleFrom(d, hostId)).map((d) => d.id)),
  }));
  const chosen = spreadOverHosts(
    datastores.map((d) => d.id),
    candidates,
  );
  return chosen.map((hostId, i) => {
    if (hostId !== null) return hostId;
    const ds = datastores[i];
    const among = fleet.hostIds ? `the fleet's hosts (${fleet.hostIds.join(", ")})` : "the hosts";
    throw conflict(`no host among ${among} that is up reads datastore ${ds.name} (${datastoreReach(ds)}); members cannot be placed`, "host_ids");
  });
}

/** Runs a job on another host's agent and waits for it (a member's start there). */
async function onHost(ctx: OpContext, kind: string, request: unknown): Promise<unknown> {
  if (!ctx.hostWork) throw conflict(`this engine cannot ask another host for ${kind} outside a job`);
  return ctx.hostWork.runJob(kind, request);
}

/**
 * Names members `<prefix>-<n>` with the lowest n no VM has, called inside the transaction that
 * inserts the member. The names taken are read once per transaction (one statement, not one per
 * candidate n), and each handed-out name counts as taken for the rest of that transaction.
 */
function memberNamer(prefix: string): (s: Inventory) => Promise<string> {
  const takenIn = new WeakMap<Inventory, Set<string>>();
  return async (s) => {
    let taken = takenIn.get(s);
    if (!taken) {
      taken = new Set(await s.vms.namesStartingWith(`${prefix}-`));
      takenIn.set(s, taken);
    }
    for (let n = 1; ; n++) {
      const name = `${prefix}-${n}`;
      if (!taken.has(name)) {
        taken.add(name);
        return name;
      }
    }
  };
}

/** The `<n>` of a member named `<prefix>-<n>` (0 when there is none). */
function memberNumber(name: string): number {
  const m = /-(\d+)$/.exec(name);
  return m ? Number(m[1]) : 0;
}

function newerFirst(a: Vm, b: Vm): number {
  return b.createdAt.localeCompare(a.createdAt) || memberNumber(b.name) - memberNumber(a.name);
}

async function fleetView(store: Inventory, fleet: Fleet, discountApplies = 0): Promise<FleetView> {
  const vms = await store.vms.list({ fleetId: fleet.id });
  const membersRunning = vms.filter((vm) => livePid(vm.stateDir) !== null).length;
  const tops = await topLayersOf(store, vms);
  const members: FleetMemberView[] = await Promise.all(
    vms.map(async (vm) => {
      const layer = tops.get(vm.diskLayerId) ?? null;
      return {
        id: vm.id,
        name: vm.name,
        datastoreId: vm.datastoreId,
        hostId: vm.hostId ?? LOCAL_HOST_ID,
        diskPath: layer?.path ?? vmDir((await store.datastores.get(vm.datastoreId))?.path ?? "/", vm.id),
        homeDir: vm.homeDir,
        provisionedBy: vm.provisionedBy,
        state: liveVmState(vm, layer),
        createdAt: vm.createdAt,
      };
    }),
  );
  members.sort((a, b) => memberNumber(a.name) - memberNumber(b.name) || a.name.localeCompare(b.name));
  const membersReady = members.filter((m) => m.state === "ready").length;
  const applying = (await pendingApplies(store, fleet.id)).length > discountApplies;
  const state: FleetState = applying ? "applying" : membersReady === fleet.size && members.length === fleet.size ? "ready" : "drifted";
  return { ...fleet, hostId: fleet.hostIds?.length === 1 ? fleet.hostIds[0] : null, members, membersReady, membersRunning, state };
}

