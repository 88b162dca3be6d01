import type { ClonefleetClient, FleetApplyWire, FleetBody, FleetWire } from "../../engine/client";
import { FLEET_DATASTORES_MAX, FLEET_SIZE_RANGE } from "../../engine/model/rules";
import { jobTimeout } from "../client";
import { computed, defineResource, optional, optionalComputed, required, timeouts } from "../framework";
import type { CtyType } from "../protocol/cty";
import { fleetProblems, REFERENCES, type POWER_STATES, OPERATION_TIMEOUTS } from "../../engine/client/rules";
import { checkReferences, validateWith } from "./rule-diagnostics";

const MEMBER_TYPE: CtyType = ["object", { id: "string", name: "string", datastore_id: "string", host_id: "string", disk_path: "string", provisioned_by: "string" }];

/** One member of a fleet. */
export interface FleetMemberState {
  id: string;
  name: string;
  datastore_id: string;
  host_id: string;
  disk_path: string;
  provisioned_by: string;
}

/** The state of `clonefleet_fleet`, attribute for attribute. */
export interface FleetState {
  id: string;
  template_id: string;
  size: number;
  name_prefix: string;
  datastore_ids: string[];
  host_ids: string[] | null;
  clone_mode: string;
  power_state: string;
  members_healthy: boolean;
  members_running: number;
  vms: FleetMemberState[];
}

/** `clonefleet_fleet`: a declared number of clones of a template spread over datastores (S1). */
export const fleet = defineResource<FleetState, ClonefleetClient>({
  typeName: "clonefleet_fleet",
  description:
    "A fleet (S1): `size` clones of a template spread over datastores, named `<name_prefix>-<n>`. New members take ready pool copies first " +
    "(a rename), spread by load and free space, and are copied only for the rest. Growing adds members, shrinking removes the newest. " +
    "A member removed outside Terraform, or whose disk vanished, shows as `members_healthy` going back to true, and the apply makes it again.",
  attributes: {
    id: computed("string", { description: "Fleet id, assigned by the engine.", keepPrior: true }),
    template_id: required("string", { description: "Template the members are cloned from.", replace: true }),
    size: required("number", { description: `Members wanted (${FLEET_SIZE_RANGE.min}–${FLEET_SIZE_RANGE.max}); growing adds members, shrinking removes the newest.` }),
    name_prefix: optionalComputed("string", { description: "Members are named `<name_prefix>-<n>` (default: the template's name).", replace: true, keepPrior: true }),
    datastore_ids: required(["list", "string"], {
      description: `Datastores new members are placed on (1–${FLEET_DATASTORES_MAX}); a change applies to members added from then on.`,
    }),
    host_ids: optional(["list", "string"], {
      description:
        "Hosts members may live on, spread by how many members and running VMs each has (a member on a host's own datastore goes to " +
        "that host). Unset: every host that is up at an apply. A change applies to members added from then on; changed in place.",
    }),
    clone_mode: optional("string", {
      description: "How members' disks are made: `pool` (a ready pool copy when there is one, else a full copy), `full` or `linked`.",
      default: "pool",
      replace: true,
    }),
    power_state: optional("string", {
      description:
        "`running` powers every member on after each apply; `stopped` (default) leaves members as they are. Changed in place. A `running` fleet " +
        "with a member whose QEMU process died reads `stopped`, so the next apply powers it on again.",
      default: "stopped",
    }),
    members_healthy: optional("bool", {
      description:
        "Leave it unset. The provider reports false when a member is missing or its disk vanished; the next plan then shows it going back " +
        "to true, and the apply makes the missing members again.",
      default: true,
    }),
    members_running: computed("number", { description: "Members whose QEMU process runs now." }),
    vms: computed(["list", MEMBER_TYPE], {
      description: "The members, oldest first: id, name, datastore_id, host_id, disk_path, provisioned_by (`pool`, `copy` or `linked`).",
    }),
  },
  blocks: { timeouts: timeouts(OPERATION_TIMEOUTS.fleet) },
  validate: validateWith(fleetProblems),
  checkPlan: checkReferences(REFERENCES.fleet),
  create: async (ctx, plan) => {
    const job = await ctx.client.fleets.create(toApi(plan));
    const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
    return fromApi(afterApply(done.result as FleetApplyWire));
  },
  read: async (ctx, state) => {
    const f = await ctx.client.fleets.get(state.id);
    return f ? fromApi(f) : null;
  },
  update: async (ctx, plan, prior) => {
    // The whole declaration again: the engine adds, removes and remakes members to match it.
    const job = await ctx.client.fleets.update(prior.id, toApi({ ...plan, name_prefix: prior.name_prefix }));
    const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
    return fromApi(afterApply(done.result as FleetApplyWire));
  },
  delete: async (ctx, state) => {
    const f = await ctx.client.fleets.get(state.id);
    if (!f) return;
    // The engine stops running members along with their disks.
    await ctx.client.fleets.delete(state.id);
  },
});

function toApi(plan: Partial<FleetState>): FleetBody {
  return {
    template_id: plan.template_id!,
    size: plan.size!,
    datastore_ids: plan.datastore_ids!,
    ...(plan.host_ids ? { host_ids: plan.host_ids } : {}),
    ...(plan.name_prefix ? { name_prefix: plan.name_prefix } : {}),
    clone_mode: plan.clone_mode ?? "pool",
    power_state: (plan.power_state ?? "stopped") as (typeof POWER_STATES)[number],
  };
}

/** The fleet an apply left; an apply that could not make every member is an error, not a quiet partial state. */
function afterApply(r: FleetApplyWire): FleetWire {
  const f = r.fleet;
  if (f.state === "drifted") {
    throw new Error(`the apply of fleet ${f.id} finished with ${f.members_ready} of ${f.size} members whole; run terraform apply again to repair it`);
  }
  return f;
}

/** A fleet declared running reads `stopped` while a member's QEMU is down (it died): drift the next apply repairs by powering it on. */
function readPowerState(f: FleetWire): string {
  return f.power_state === "running" && (f.members_running ?? 0) < f.vms.length ? "stopped" : f.power_state;
}

function fromApi(f: FleetWire): FleetState {
  return {
    id: f.id,
    template_id: f.template_id,
    size: f.size,
    name_prefix: f.name_prefix,
    datastore_ids: f.datastore_ids,
    host_ids: f.host_ids ?? null,
    clone_mode: f.clone_mode,
    power_state: readPowerState(f),
    // `applying` (another apply under way) is not drift; a missing or broken member is.
    members_healthy: f.state !== "drifted",
    members_running: f.members_running ?? 0,
    vms: f.vms.map((m) => ({ id: m.id, name: m.name, datastore_id: m.datastore_id, host_id: m.host_id, disk_path: m.disk_path, provisioned_by: m.provisioned_by })),
  };
}
