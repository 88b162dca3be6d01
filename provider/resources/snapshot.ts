import { ApiError, JobFailedError, type ClonefleetClient, type JobWire, type SnapshotWire } from "../../engine/client";
import { computed, defineResource, required, timeouts, type OperationContext } from "../framework";
import { REFERENCES, snapshotProblems, OPERATION_TIMEOUTS } from "../../engine/client/rules";
import { checkReferences, validateWith } from "./rule-diagnostics";

/** The state of `clonefleet_snapshot`, attribute for attribute. */
export interface SnapshotState {
  id: string;
  vm_id: string;
  name: string;
  frozen_disk_path: string;
  frozen_chain: string[];
  content_id: string | null;
  state: string;
  created_at: string;
}

/** `clonefleet_snapshot`: an external snapshot of a VM, running or stopped; destroying it consolidates its layer (S4). */
export const snapshot = defineResource<SnapshotState, ClonefleetClient>({
  typeName: "clonefleet_snapshot",
  description:
    "An external snapshot of a VM, running or stopped: the VM's top disk layer is frozen (`frozen_disk_path`, a point-in-time disk a backup agent " +
    "may read with its backing chain) and the VM continues on a new overlay, without a pause. Destroying it consolidates: the layer above the " +
    "frozen one is merged back (a live block commit with a pivot while the VM runs, `qemu-img commit` while it is stopped) and the VM's chain is " +
    "one layer shorter. Large deltas take long to merge: raise `timeouts.delete`; a consolidation that outlasts it keeps running on the engine. " +
    "A snapshot consolidated or removed outside Terraform, or whose frozen layer no longer holds its point in time, is gone: the next plan creates it again.",
  attributes: {
    id: computed("string", { description: "Snapshot id, assigned by the engine.", keepPrior: true }),
    vm_id: required("string", { description: "Id of the VM to snapshot.", replace: true }),
    name: required("string", { description: "Snapshot name, unique per VM: letters, digits, '.', '_', '-'; at most 63 characters.", replace: true }),
    frozen_disk_path: computed("string", {
      description: "The frozen layer: the VM's disk at the snapshot instant (read it with its backing chain; `qemu-img -U` while the VM runs).",
    }),
    frozen_chain: computed(["list", "string"], { description: "The frozen point-in-time chain, top first: `frozen_disk_path` and the layers below it." }),
    content_id: computed("string", { description: "Content ID of the frozen layer." }),
    state: computed("string", { description: "The engine's view of the snapshot: `ready`." }),
    created_at: computed("string", { description: "When the snapshot was taken (RFC 3339).", keepPrior: true }),
  },
  blocks: { timeouts: timeouts(OPERATION_TIMEOUTS.snapshot) },
  validate: validateWith(snapshotProblems),
  checkPlan: checkReferences(REFERENCES.snapshot),
  create: async (ctx, plan) => {
    const vmId = plan.vm_id!;
    const name = plan.name!;
    await removeDriftedNamesake(ctx, vmId, name);
    const job = await ctx.client.snapshots.create(vmId, { name }).catch((err: unknown) => {
      throw naming(err, vmId);
    });
    const done = await waitForJob(ctx, job, `taking snapshot ${JSON.stringify(name)} of VM ${vmId}`).catch((err: unknown) => {
      throw naming(err, vmId);
    });
    return fromApi(done.result as SnapshotWire);
  },
  read: async (ctx, state) => {
    const s = await ctx.client.snapshots.get(state.id);
    // A drifted snapshot (its file vanished, or a cancelled consolidation wrote into it) no longer holds its point in time.
    if (!s || s.state !== "ready") return null;
    return fromApi(s);
  },
  delete: async (ctx, state) => {
    if (!(await ctx.client.snapshots.get(state.id))) return;
    await consolidate(ctx, state.id, `consolidating snapshot ${JSON.stringify(state.name)} of VM ${state.vm_id}`);
  },
});

/** Deletes (consolidates) snapshot `id` and waits for it, or for the consolidation already under way. */
async function consolidate(ctx: OperationContext<ClonefleetClient>, id: string, what: string): Promise<void> {
  let job: JobWire;
  try {
    job = await ctx.client.snapshots.delete(id);
  } catch (err) {
    // A destroy that timed out earlier left its job running: wait for that one instead.
    const running = err instanceof ApiError && err.status === 409 ? /being deleted by job (\S+)/.exec(err.message)?.[1] : undefined;
    if (!running) throw err;
    job = await ctx.client.jobs.get(running);
  }
  try {
    await waitForJob(ctx, job, what);
  } catch (err) {
    if (err instanceof JobFailedError) {
      throw new ApiError(err.status, err.code, `${what} failed (job ${err.jobId} ${err.state}): ${err.message.replace(/^job \S+ \w+: /, "")}. The VM keeps its full chain.`, err.field);
    }
    throw err;
  }
}

/**
 * Waits for a job until it ends or the operation's signal aborts (its timeout, or Terraform
 * stopping the provider); throws JobFailedError when it failed, and on abort an error naming
 * the job, which keeps running on the engine.
 */
export async function waitForJob(ctx: OperationContext<ClonefleetClient>, job: JobWire, what: string): Promise<JobWire> {
  const aborted = new Promise<never>((_, reject) => {
    const stop = () => {
      const reason = ctx.signal.reason instanceof Error ? ctx.signal.reason.message : "the provider stopped";
      reject(
        new Error(
          `${what} was not finished when the provider stopped waiting (${reason}). Job ${job.id} keeps running on the engine: ` +
            `follow it with \`clonefleet job show ${job.id}\`; once it is done, the next plan sees the result.`,
        ),
      );
    };
    if (ctx.signal.aborted) stop();
    else ctx.signal.addEventListener("abort", stop, { once: true });
  });
  // Settled through the race below; this only keeps a late abort from counting as unhandled.
  aborted.catch(() => undefined);
  for (let current = job; ; ) {
    if (current.state === "succeeded") return current;
    if (current.state === "failed" || current.state === "cancelled") {
      throw new JobFailedError(current.id, current.state, current.error?.code ?? "CF_INTERNAL", current.error?.message ?? current.state, current.error?.field);
    }
    current = await Promise.race([ctx.client.jobs.waitOnce(job.id, 2), aborted]);
  }
}

/**
 * A snapshot left drifted (by a cancelled consolidation, say) holds the name the configuration
 * wants: consolidate it first. A sound one (taken by a create that timed out, or outside
 * Terraform) is refused with a hint to import it.
 */
async function removeDriftedNamesake(ctx: OperationContext<ClonefleetClient>, vmId: string, name: string): Promise<void> {
  const snaps = await ctx.client.snapshots.list(vmId).catch((err: unknown) => {
    throw naming(err, vmId);
  });
  const taken = snaps.find((s) => s.name === name && s.state === "ready");
  if (taken) {
    throw new ApiError(
      409,
      "CF_CONFLICT",
      `name: VM ${vmId} already has a snapshot named ${JSON.stringify(name)} (${taken.id}); import it with \`terraform import <address> ${taken.id}\` or choose another name`,
      "name",
    );
  }
  const stale = snaps.find((s) => s.name === name && s.state !== "ready");
  if (stale) await consolidate(ctx, stale.id, `consolidating the drifted snapshot ${JSON.stringify(name)} of VM ${vmId} before taking it again`);
}

/** The engine names the VM of `/vms/{id}/…` `id`; in this resource that is `vm_id`. */
function naming(err: unknown, vmId: string): unknown {
  if (!(err instanceof ApiError) || err.field !== "id") return err;
  const message = err.status === 404 ? `vm_id: no VM ${JSON.stringify(vmId)} on the engine (${err.message})` : `vm_id: ${err.message}`;
  return new ApiError(err.status, err.code, message, "vm_id");
}

function fromApi(s: SnapshotWire): SnapshotState {
  return {
    id: s.id,
    vm_id: s.vm_id,
    name: s.name,
    frozen_disk_path: s.frozen_disk_path,
    frozen_chain: [...s.frozen_chain],
    content_id: s.content_id,
    state: s.state,
    created_at: s.created_at,
  };
}
