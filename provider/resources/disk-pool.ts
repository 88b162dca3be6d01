import type { ClonefleetClient, PoolWire } from "../../engine/client";
import { POOL_SIZE_RANGE } from "../../engine/model/rules";
import { jobTimeout } from "../client";
import { computed, defineResource, optional, required, timeouts } from "../framework";
import { REFERENCES, diskPoolProblems, OPERATION_TIMEOUTS } from "../../engine/client/rules";
import { checkReferences, validateWith } from "./rule-diagnostics";

/** The state of `clonefleet_disk_pool`, attribute for attribute. */
export interface DiskPoolState {
  id: string;
  template_id: string;
  datastore_id: string;
  size: number;
  at_size: boolean;
}

/** `clonefleet_disk_pool`: full copies of a template's disk kept ready on one datastore (S1). */
export const diskPool = defineResource<DiskPoolState, ClonefleetClient>({
  typeName: "clonefleet_disk_pool",
  description:
    "A disk pool (S1): `size` full, independent copies of a template's disk kept ready on one datastore, made in the background and refilled " +
    "after clones take them. A VM or fleet member placed on that datastore gets a copy by a rename instead of a full copy. Create and update " +
    "wait until the pool holds its size; a pool found below its size shows as `at_size` going back to true, and the apply waits for the refill. " +
    "The count of ready copies moves as clones take copies and the pool refills, so it is not kept in state (`clonefleet pool ls` shows it).",
  attributes: {
    id: computed("string", { description: "Pool id, assigned by the engine.", keepPrior: true }),
    template_id: required("string", { description: "Template whose disk the pool holds copies of.", replace: true }),
    datastore_id: required("string", { description: "Datastore the copies are kept on.", replace: true }),
    size: required("number", { description: `Ready copies to keep (${POOL_SIZE_RANGE.min}–${POOL_SIZE_RANGE.max}); changes in place.` }),
    at_size: optional("bool", {
      description:
        "Leave it unset. The provider reports false when the pool holds fewer ready copies than its size (clones took them and the refill " +
        "has not caught up, or fills fail); the next plan then shows it going back to true, and the apply waits until the pool is full again.",
      default: true,
    }),
  },
  blocks: { timeouts: timeouts(OPERATION_TIMEOUTS.disk_pool) },
  validate: validateWith(diskPoolProblems),
  checkPlan: checkReferences(REFERENCES.disk_pool),
  create: async (ctx, plan) => {
    const pool = await ctx.client.pools.create({ template_id: plan.template_id!, datastore_id: plan.datastore_id!, size: plan.size! });
    try {
      return fromApi(await ctx.client.waitPoolReady(pool.id, { timeoutMs: jobTimeout(ctx.timeoutMs) }));
    } catch (err) {
      // A pool that never filled is not what the plan promised; leave nothing behind for a retry to trip on.
      await ctx.client.pools.delete(pool.id).catch(() => undefined);
      throw err;
    }
  },
  read: async (ctx, state) => {
    const p = await ctx.client.pools.get(state.id);
    return p ? fromApi(p) : null;
  },
  update: async (ctx, plan, prior) => {
    if (plan.size !== prior.size) await ctx.client.pools.resize(prior.id, plan.size!);
    // Planned at_size is always true: wait for the refill, whether the size changed or copies were taken.
    return fromApi(await ctx.client.waitPoolReady(prior.id, { timeoutMs: jobTimeout(ctx.timeoutMs) }));
  },
  delete: async (ctx, state) => {
    if (await ctx.client.pools.get(state.id)) await ctx.client.pools.delete(state.id);
  },
});

function fromApi(p: PoolWire): DiskPoolState {
  return {
    id: p.id,
    template_id: p.template_id,
    datastore_id: p.datastore_id,
    size: p.size,
    at_size: p.ready >= p.size,
  };
}
