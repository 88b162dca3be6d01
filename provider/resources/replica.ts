import type { ClonefleetClient, ReplicaWire } from "../../engine/client";
import { jobTimeout } from "../client";
import { computed, defineResource, optional, required, timeouts } from "../framework";
import type { CtyType } from "../protocol/cty";
import { REFERENCES, replicaProblems, OPERATION_TIMEOUTS } from "../../engine/client/rules";
import { checkReferences, validateWith } from "./rule-diagnostics";

const REUSED_LAYER_TYPE: CtyType = ["object", { path: "string", content_id: "string" }];
const CHAIN_LAYER_TYPE: CtyType = ["object", { path: "string", content_id: "string", parent_content_id: "string", origin: "string" }];

/** A layer found on the target by content ID and relied on instead of copying. */
export interface ReusedLayerState {
  path: string;
  content_id: string;
}

/** One layer of the replica's chain on the target, top first. */
export interface ReplicaChainLayerState {
  path: string;
  content_id: string;
  parent_content_id: string | null;
  origin: string;
}

/** The state of `clonefleet_replica`, attribute for attribute. */
export interface ReplicaState {
  id: string;
  source_disk_path: string | null;
  template_id: string | null;
  target_datastore_id: string;
  verify: boolean;
  in_sync: boolean;
  disk_path: string;
  copied_bytes: number;
  layers_copied: number;
  layers_reused: number;
  reused_layers: ReusedLayerState[];
  chain: ReplicaChainLayerState[];
}

/** `clonefleet_replica`: a disk chain recreated on another datastore by content ID (S7). */
export const replica = defineResource<ReplicaState, ClonefleetClient>({
  typeName: "clonefleet_replica",
  description:
    "A disk chain (a template's, or any qcow2 chain inside a datastore) recreated on another datastore by content ID: the top layer is copied, " +
    "and each parent is looked up in the target's catalog by the content ID the child recorded, reused when found, copied otherwise. " +
    "When a target layer the replica relies on is removed or changes, a plan shows `in_sync` going back to true, and the apply copies only what is missing.",
  attributes: {
    id: computed("string", { description: "Replica id, assigned by the engine.", keepPrior: true }),
    source_disk_path: optional("string", {
      description: "Top layer of the chain to replicate: an absolute path of a qcow2 file inside a datastore whose layers have content IDs. Set this or `template_id`.",
      replace: true,
    }),
    template_id: optional("string", { description: "Replicate this template's disk. Set this or `source_disk_path`.", replace: true }),
    target_datastore_id: required("string", { description: "Datastore to recreate the chain on; not the one holding the source disk.", replace: true }),
    verify: optional("bool", {
      description: "Compare the replica with the source (`qemu-img compare`) after creating or repairing it. A change applies to the next repair.",
      default: false,
    }),
    in_sync: optional("bool", {
      description:
        "Leave it unset. The provider reports false when the engine finds the replica drifted (a target layer it relies on was removed or changed); " +
        "the next plan then shows it going back to true, and the apply repairs the replica by copying only what is missing.",
      default: true,
    }),
    // A repair rewrites layers in place: the top layer's path (from the replica id and content ID) stays.
    disk_path: computed("string", { description: "Top layer of the replica on the target datastore: the disk to use.", keepPrior: true }),
    copied_bytes: computed("number", { description: "Bytes copied for this replica over all its runs (creation and repairs)." }),
    layers_copied: computed("number", { description: "Layers of the chain this replica copied (and owns)." }),
    layers_reused: computed("number", { description: "Layers of the chain found on the target by content ID and reused." }),
    reused_layers: computed(["list", REUSED_LAYER_TYPE], {
      description: "Layers found on the target and relied on instead of copying: path and content_id.",
    }),
    chain: computed(["list", CHAIN_LAYER_TYPE], {
      description: "The replica's chain on the target, top first: path, content_id, parent_content_id (null for a base), origin (`copied` or `reused`).",
    }),
  },
  blocks: { timeouts: timeouts(OPERATION_TIMEOUTS.replica) },
  validate: validateWith(replicaProblems),
  checkPlan: checkReferences(REFERENCES.replica),
  create: async (ctx, plan) => {
    const job = await ctx.client.replicas.create({
      ...(plan.source_disk_path ? { source_disk_path: plan.source_disk_path } : {}),
      ...(plan.template_id ? { template_id: plan.template_id } : {}),
      target_datastore_id: plan.target_datastore_id!,
      verify: plan.verify ?? false,
    });
    const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
    return fromApi(done.result as ReplicaWire, { source_disk_path: plan.source_disk_path ?? null, template_id: plan.template_id ?? null, verify: plan.verify ?? false });
  },
  read: async (ctx, state) => {
    const r = await ctx.client.replicas.get(state.id);
    if (!r) return null;
    return fromApi(r, {
      // What the user wrote stays (the engine keeps a resolved path); an import starts from the engine's view.
      source_disk_path: state.source_disk_path ?? (r.source_kind === "disk" ? r.source_disk_path : null),
      template_id: state.template_id ?? (r.source_kind === "template" ? r.template_id : null),
      verify: state.verify ?? r.last_run.verified !== null,
    });
  },
  update: async (ctx, plan, prior) => {
    const keep = { source_disk_path: prior.source_disk_path, template_id: prior.template_id, verify: plan.verify ?? false };
    if (prior.in_sync === false && plan.in_sync !== false) {
      const job = await ctx.client.replicas.repair(prior.id, { verify: plan.verify ?? false });
      const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
      const r = done.result as ReplicaWire;
      if (r.state === "drifted") {
        throw new Error(`the repair of replica ${r.id} finished but it still does not match: ${r.drift.map((d) => `${d.path}: ${d.reason}`).join("; ")}`);
      }
      return fromApi(r, keep);
    }
    // Only verify changed: it is the provider's setting for the next repair, nothing to do on the engine.
    const r = await ctx.client.replicas.get(prior.id);
    if (!r) throw new Error(`replica ${prior.id} was removed outside Terraform during the apply; run terraform apply again to recreate it`);
    return { ...fromApi(r, keep), in_sync: plan.in_sync ?? true };
  },
  delete: async (ctx, state) => {
    if (await ctx.client.replicas.get(state.id)) await ctx.client.replicas.delete(state.id);
  },
});

function fromApi(r: ReplicaWire, own: Pick<ReplicaState, "source_disk_path" | "template_id" | "verify">): ReplicaState {
  return {
    id: r.id,
    ...own,
    target_datastore_id: r.target_datastore_id,
    in_sync: r.state !== "drifted",
    disk_path: r.disk_path,
    copied_bytes: r.copied_bytes,
    layers_copied: r.layers_copied,
    layers_reused: r.layers_reused,
    reused_layers: r.reused_layers.map((l) => ({ path: l.path, content_id: l.content_id })),
    chain: r.chain.map((l) => ({ path: l.path, content_id: l.content_id, parent_content_id: l.parent_content_id, origin: l.origin })),
  };
}
