import { ApiError, type ClonefleetClient, type JobWire, type ParentWire } from "../../engine/client";
import { MAX_WARM_CHILDREN } from "../../engine/model/instant-clone";
import { computed, defineResource, optional, optionalComputed, required, timeouts, type OperationContext } from "../framework";
import { waitForJob } from "./snapshot";
import { instantCloneParentProblems, REFERENCES, type RAM_LOCATIONS, OPERATION_TIMEOUTS } from "../../engine/client/rules";
import { checkReferences, validateWith } from "./rule-diagnostics";


/** The state of `clonefleet_instant_clone_parent`, attribute for attribute. */
export interface InstantCloneParentState {
  id: string;
  source_vm_id: string;
  name: string;
  ram_location: string;
  restart_source: boolean;
  wait_for_children_on_destroy: boolean;
  warm_count: number;
  datastore_id: string;
  memory_bytes: number;
  ram_path: string;
  device_state_path: string;
  disk_path: string;
  disk_chain: string[];
  accel: string;
  qemu_version: string;
  children: string[];
  state: string;
  created_at: string;
}

/** `clonefleet_instant_clone_parent`: a running VM's state frozen into a static object that instant clones start from (S3). */
export const instantCloneParent = defineResource<InstantCloneParentState, ClonefleetClient>({
  typeName: "clonefleet_instant_clone_parent",
  description:
    "An instant-clone parent: a running VM captured into a static object (its RAM in a file, its device state, its disk frozen read-only) " +
    "that `clonefleet_vm` resources with `instant_clone_of` start from without a boot, sharing its memory copy-on-write. The capture " +
    "pauses the source VM and leaves it stopped on a new overlay; with `restart_source` (default) it is started again at once (a cold boot), " +
    "so a source declared `power_state = \"running\"` stays as declared. Destroying a parent that still has instant clones is refused, " +
    "naming them, unless `wait_for_children_on_destroy` is set (Terraform destroys the clones it manages first). With `warm_count`, each " +
    "engine host keeps that many children pre-started, so a new instant clone only resumes one. A parent whose files " +
    "vanished (a tmpfs RAM file after a host reboot, say) is gone: the next plan captures it again.",
  attributes: {
    id: computed("string", { description: "Parent id, assigned by the engine.", keepPrior: true }),
    source_vm_id: required("string", { description: "Id of the running VM to capture.", replace: true }),
    name: required("string", { description: "Unique parent name: letters, digits, '.', '_', '-'; at most 63 characters.", replace: true }),
    ram_location: optionalComputed("string", {
      description:
        "Where the RAM file lives: `tmpfs` (this host's memory: fastest clones, lost at a host reboot) or `datastore` (beside the frozen disk: " +
        "survives reboots, other hosts mounting the datastore can clone it). Default: the engine's `--parent-ram-location`.",
      replace: true,
      keepPrior: true,
    }),
    restart_source: optional("bool", {
      description: "Start the source VM again after the capture (a cold boot on its own new overlay). false leaves it stopped.",
      default: true,
    }),
    wait_for_children_on_destroy: optional("bool", {
      description:
        "On destroy, wait until the parent's instant clones are deleted (by Terraform or anyone) instead of failing while it has any; " +
        "bounded by `timeouts.delete`.",
      default: false,
    }),
    warm_count: optional("number", {
      description:
        `Children each engine host keeps pre-started for this parent (0 to ${MAX_WARM_CHILDREN}; default 0): QEMU already up with its own ` +
        "overlay and identity, the parent's state loaded, paused, so a new instant clone (a `clonefleet_vm` with `instant_clone_of`, a scale-up) " +
        "only resumes one instead of starting QEMU and loading the state first. Each costs an idle QEMU process's memory (no guest RAM until taken). " +
        "Changed in place; a count changed outside Terraform shows as a change in the next plan.",
      default: 0,
    }),
    datastore_id: computed("string", { description: "Datastore holding the parent's files (the source VM's).", keepPrior: true }),
    memory_bytes: computed("number", { description: "Guest RAM size in bytes.", keepPrior: true }),
    ram_path: computed("string", { description: "The RAM file children map copy-on-write.", keepPrior: true }),
    device_state_path: computed("string", { description: "The device state, saved with `x-ignore-shared` (RAM left out).", keepPrior: true }),
    disk_path: computed("string", { description: "The frozen top disk layer children get their overlays on.", keepPrior: true }),
    // An update only changes warm_count: the frozen chain, the clones and the state stay what they are.
    disk_chain: computed(["list", "string"], { description: "The frozen disk chain, top first.", keepPrior: true }),
    accel: computed("string", { description: "Accelerator the state was saved under (`kvm` or `tcg`); children run on the same.", keepPrior: true }),
    qemu_version: computed("string", { description: "QEMU version the state was saved by; another version cannot load it.", keepPrior: true }),
    children: computed(["list", "string"], { description: "Ids of its instant clones, as the engine sees them now.", keepPrior: true }),
    state: computed("string", { description: "The engine's view of the parent: `ready`.", keepPrior: true }),
    created_at: computed("string", { description: "When the parent was captured (RFC 3339).", keepPrior: true }),
  },
  blocks: { timeouts: timeouts(OPERATION_TIMEOUTS.instant_clone_parent) },
  validate: validateWith(instantCloneParentProblems),
  checkPlan: checkReferences(REFERENCES.instant_clone_parent),
  create: async (ctx, plan) => {
    const name = plan.name!;
    const sourceVmId = plan.source_vm_id!;
    await removeDriftedNamesake(ctx, name);
    const job = await ctx.client.parents.create({
      source_vm_id: sourceVmId,
      name,
      ...(plan.ram_location ? { ram_location: plan.ram_location as (typeof RAM_LOCATIONS)[number] } : {}),
      warm_count: plan.warm_count ?? 0,
    });
    const done = await waitForJob(ctx, job, `capturing VM ${sourceVmId} as instant-clone parent ${JSON.stringify(name)}`);
    const parent = done.result as ParentWire;
    const restart = plan.restart_source ?? true;
    // The capture leaves the source stopped; started again, a source declared running plans no change.
    if (restart) await ctx.client.vms.start(sourceVmId);
    return fromApi(parent, restart, plan.wait_for_children_on_destroy ?? false);
  },
  read: async (ctx, state) => {
    const p = await ctx.client.parents.get(state.id);
    // A parent whose files vanished cannot be cloned: as far as the configuration goes, it is gone.
    if (!p || p.state !== "ready") return null;
    return fromApi(p, state.restart_source ?? true, state.wait_for_children_on_destroy ?? false);
  },
  // warm_count changes in the engine; the two provider-side settings take effect on the next create or destroy.
  update: async (ctx, plan, prior) => {
    let p = await ctx.client.parents.get(prior.id);
    if (!p || p.state !== "ready") throw new Error(`instant-clone parent ${prior.id} is gone; run terraform apply again to capture it again`);
    const warmCount = plan.warm_count ?? 0;
    if (p.warm_count !== warmCount) p = await ctx.client.parents.update(prior.id, { warm_count: warmCount });
    return fromApi(p, plan.restart_source ?? true, plan.wait_for_children_on_destroy ?? false);
  },
  delete: async (ctx, state) => {
    if (!(await ctx.client.parents.get(state.id))) return;
    await deleteParent(ctx, state.id, state.wait_for_children_on_destroy ?? false, `deleting instant-clone parent ${JSON.stringify(state.name)}`);
  },
});

/**
 * Deletes parent `id`: at once, which the engine refuses (409 naming the children) while it has
 * any; or with `wait`, through a job that waits for them to go, bounded by the operation's signal.
 */
async function deleteParent(ctx: OperationContext<ClonefleetClient>, id: string, wait: boolean, what: string): Promise<void> {
  if (!wait) {
    try {
      await ctx.client.parents.delete(id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        throw new ApiError(
          409,
          err.code,
          `${err.message}. Delete those instant clones first, or set wait_for_children_on_destroy = true to wait for them.`,
          "wait_for_children_on_destroy",
        );
      }
      throw err;
    }
    return;
  }
  const job: JobWire = await ctx.client.parents.deleteWhenChildrenGone(id);
  try {
    await waitForJob(ctx, job, `${what} once its instant clones are gone`);
  } catch (err) {
    // The engine keeps waiting: cancel that job, so that a parent left in state does not vanish later.
    if (!(err instanceof ApiError)) await ctx.client.jobs.cancel(job.id).catch(() => undefined);
    throw err;
  }
}

/**
 * A record of the same name whose files vanished holds the name the configuration wants: delete
 * it first (waiting, bounded by the create timeout, for instant clones Terraform is replacing).
 */
async function removeDriftedNamesake(ctx: OperationContext<ClonefleetClient>, name: string): Promise<void> {
  const stale = (await ctx.client.parents.list()).find((p) => p.name === name && p.state !== "ready");
  if (!stale) return;
  await deleteParent(ctx, stale.id, stale.children.length > 0, `removing the drifted instant-clone parent ${JSON.stringify(name)} (${stale.id}) before capturing it again`);
}

function fromApi(p: ParentWire, restartSource: boolean, waitForChildren: boolean): InstantCloneParentState {
  return {
    id: p.id,
    source_vm_id: p.source_vm_id,
    name: p.name,
    ram_location: p.ram_location,
    restart_source: restartSource,
    wait_for_children_on_destroy: waitForChildren,
    warm_count: p.warm_count,
    datastore_id: p.datastore_id,
    memory_bytes: p.memory_bytes,
    ram_path: p.ram_path,
    device_state_path: p.device_state_path,
    disk_path: p.disk_path,
    disk_chain: [...p.disk_chain],
    accel: p.accel,
    qemu_version: p.qemu_version,
    children: [...p.children],
    state: p.state,
    created_at: p.created_at,
  };
}
