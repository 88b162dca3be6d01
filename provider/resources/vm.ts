import { ApiError, type ClonefleetClient, type InstantCloneResultWire, type VmWire } from "../../engine/client";
import { applyPlacement, checkHostKnown, planPlacement, type PlacementWant } from "../../engine/client/placement";
import {
  DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
  DEFAULT_MIGRATION_ON_MISSING_ACK,
  MIGRATION_NOTIFY_TIMEOUT_RANGE,
  MIGRATION_ON_MISSING_ACK_VALUES,
} from "../../engine/model/migration-rules";
import { jobTimeout } from "../client";
import { computed, defineResource, optional, optionalComputed, required, timeouts, type OperationContext, type Planned } from "../framework";
import type { CtyType } from "../protocol/cty";
import { REFERENCES, vmProblems, type CLONE_MODES } from "../../engine/client/rules";
import { checkReferences, validateWith } from "./rule-diagnostics";

const DISK_LAYER_TYPE: CtyType = ["object", { path: "string", content_id: "string" }];
const MIGRATION_NOTIFY_RANGE_TEXT = `From ${MIGRATION_NOTIFY_TIMEOUT_RANGE.min} to ${MIGRATION_NOTIFY_TIMEOUT_RANGE.max}`;

/** One layer of a VM's disk chain, top first. */
export interface VmDiskLayerState {
  path: string;
  content_id: string | null;
}

/**
 * The state of `clonefleet_vm`, attribute for attribute. Later sources and runtime settings
 * (`fork_of`, `instant_clone_of`, `power_state`, `host_id`) arrive as new optional attributes:
 * a state written now decodes with them null (UpgradeResourceState fills missing attributes),
 * so the schema version stays 0. Make them optional+computed and fill them in Read, so that an
 * existing VM plans no change after the upgrade; `template_id` may then become optional.
 */
export interface VmState {
  id: string;
  name: string;
  template_id: string | null;
  fork_of: string | null;
  instant_clone_of: string | null;
  clone_mode: string | null;
  power_state: string;
  datastore_id: string | null;
  disk_path: string;
  provisioned_by: string;
  chain_depth: number;
  disk_chain: VmDiskLayerState[];
  state: string;
  forked_from: string | null;
  stop_timeout_seconds: number | null;
  host_id: string;
  migration_notify_timeout_seconds: number;
  migration_on_missing_ack: string;
}

/** `clonefleet_vm`: one VM cloned from a template, by a pool copy, a full copy or a linked overlay (S1). */
export const vm = defineResource<VmState, ClonefleetClient>({
  typeName: "clonefleet_vm",
  description:
    "A VM cloned from a template, forked from another VM (`fork_of`), or started as an instant clone of a parent (`instant_clone_of`). Its disk is a ready pool copy moved in by a rename when the datastore's pool has one (`clone_mode = \"pool\"`), " +
    "a full copy (`full`), or a qcow2 overlay on the template's disk (`linked`, same datastore only). A VM removed outside Terraform, or whose " +
    "disk vanished, is gone: the next plan creates it again (a fork by forking again). `power_state` is changed in place; a VM whose QEMU " +
    "process died reads `stopped`, so the next apply powers it on again. `host_id` is changed in place by a live migration (S6), and " +
    "the migration policy (`migration_notify_timeout_seconds`, `migration_on_missing_ack`) in place too.",
  attributes: {
    id: computed("string", { description: "VM id, assigned by the engine.", keepPrior: true }),
    name: required("string", { description: "Unique VM name: letters, digits, '.', '_', '-'; at most 63 characters.", replace: true }),
    template_id: optional("string", { description: "Template to clone. Exactly one of `template_id` and `fork_of` is set.", replace: true }),
    fork_of: optional("string", {
      description:
        "Id of a VM to fork instead of cloning a template: a running VM is stunned for a moment and the child starts where the parent was; " +
        "a stopped one forks its disks only. Exactly one of `template_id` and `fork_of` is set.",
      replace: true,
    }),
    instant_clone_of: optional("string", {
      description:
        "Id of a `clonefleet_instant_clone_parent` to start this VM from instead: no boot, it continues where the parent was captured, " +
        "on its own overlay on the parent's frozen disk, its RAM shared copy-on-write with the parent's other clones. Set " +
        "`power_state = \"running\"` with it. An instant clone removed outside Terraform is cloned again. Excludes `template_id` and `fork_of`.",
      replace: true,
    }),
    clone_mode: optional("string", {
      description:
        "How the disk is made: `pool` (a ready pool copy moved in when there is one, else a full copy), `full` (always a full copy) or `linked` " +
        "(a qcow2 overlay on the template's disk; the VM must be on the template's datastore). Only for a clone of a template: " +
        "unset (null) for a fork or an instant clone, whose disk comes from its parent.",
      default: "pool",
      defaultUnlessSet: ["fork_of", "instant_clone_of"],
      replace: true,
    }),
    power_state: optional("string", {
      description: "`running` or `stopped` (default); changed in place by powering the VM on or off. A VM whose QEMU process died reads `stopped`.",
      default: "stopped",
    }),
    datastore_id: optionalComputed("string", {
      description:
        "Datastore for the VM's disk (default: the template's). Only for a clone of a template: null for a fork or an instant clone, " +
        "whose disk stays beside its parent's (`disk_path` says where).",
      replace: true,
      keepPrior: true,
    }),
    disk_path: computed("string", { description: "Path of the VM's top disk layer.", keepPrior: true }),
    provisioned_by: computed("string", { description: "How the disk was made: `pool` (a pool copy moved in), `copy`, `linked`, or `instant-clone` (an overlay on a parent's frozen disk).", keepPrior: true }),
    chain_depth: computed("number", { description: "Layers in the VM's disk chain (1 for an independent disk, 2 for a linked clone)." }),
    disk_chain: computed(["list", DISK_LAYER_TYPE], { description: "The VM's disk chain, top first: path and content_id of each layer." }),
    state: computed("string", { description: "The engine's view of the VM: `ready`, or `crashed` when its QEMU process died without clonefleet stopping it." }),
    forked_from: computed("string", { description: "Id of the VM it was forked from, null for a clone of a template.", keepPrior: true }),
    stop_timeout_seconds: optional("number", {
      description:
        "Seconds a stop (power_state `stopped`) waits for the guest to power off (ACPI) before QEMU quits, 0 to 3600; unset uses the engine's " +
        "default (30). Set it low for firmware-only VMs, which ignore ACPI. Changed in place.",
    }),
    host_id: optionalComputed("string", {
      description:
        "Host (engine agent) whose QEMU runs the VM; default: the host of the engine the provider talks to. A change is an in-place live " +
        "migration of the running VM to that host (the apply waits for the `vm.migrate` job); a stopped VM is started first when " +
        "`power_state` is `running`, and refused when it is to stay stopped (only a running VM migrates). A VM found on another host than " +
        "the one declared shows as a change, and the apply moves it back. Left unset, it reads the host the VM is on.",
      keepPrior: true,
    }),
    migration_notify_timeout_seconds: optional("number", {
      description:
        `Seconds the guest gets to acknowledge a migration notice on its \`org.clonefleet.notify.0\` channel before the engine applies ` +
        `\`migration_on_missing_ack\`; 0 (default) migrates without notice. ${MIGRATION_NOTIFY_RANGE_TEXT}. Changed in place.`,
      default: DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
    }),
    migration_on_missing_ack: optional("string", {
      description:
        "What a migration does when the guest has not acknowledged by the deadline: `abort` (the VM stays where it is and the apply fails) " +
        "or `proceed` (default: it migrates anyway). Changed in place.",
      default: DEFAULT_MIGRATION_ON_MISSING_ACK,
    }),
  },
  blocks: { timeouts: timeouts({ create: "30m", update: "10m", delete: "10m" }) },
  validate: validateWith(vmProblems),
  checkPlan: checkReferences(REFERENCES.vm),
  create: async (ctx, plan) => {
    // An unknown host is refused before anything is made.
    if (plan.host_id) await checkHostKnown(ctx.client, plan.host_id);
    await removeDriftedNamesake(ctx.client, plan.name!);
    if (plan.instant_clone_of) {
      const job = await ctx.client.parents.clone(plan.instant_clone_of, { names: [plan.name!] }).catch((err: unknown) => {
        throw namingParent(err, plan.instant_clone_of!);
      });
      const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
      const clone = await setStopTimeout(ctx.client, (done.result as InstantCloneResultWire).children[0], plan.stop_timeout_seconds ?? null);
      return fromApi(ctx.client, await place(ctx, clone, plan), null);
    }
    if (plan.fork_of) {
      // A fork starts on its parent's host: refuse now a child that would have to move while stopped.
      const parent = await ctx.client.vms.get(plan.fork_of);
      if (parent) planPlacement({ ...parent, name: plan.name! }, placementWant(plan));
      const job = await ctx.client.vms.fork(plan.fork_of, { name: plan.name! });
      const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
      const child = await setStopTimeout(ctx.client, done.result as VmWire, plan.stop_timeout_seconds ?? null);
      return fromApi(ctx.client, await place(ctx, child, plan), null);
    }
    const job = await ctx.client.vms.create({
      name: plan.name!,
      template_id: plan.template_id!,
      ...(plan.datastore_id ? { datastore_id: plan.datastore_id } : {}),
      clone_mode: (plan.clone_mode ?? "pool") as (typeof CLONE_MODES)[number],
      ...(plan.host_id ? { host_id: plan.host_id } : {}),
      ...(typeof plan.migration_notify_timeout_seconds === "number" ? { migration_notify_timeout_seconds: plan.migration_notify_timeout_seconds } : {}),
      ...(plan.migration_on_missing_ack ? { migration_on_missing_ack: plan.migration_on_missing_ack as (typeof MIGRATION_ON_MISSING_ACK_VALUES)[number] } : {}),
    });
    const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
    const made = await setStopTimeout(ctx.client, done.result as VmWire, plan.stop_timeout_seconds ?? null);
    return fromApi(ctx.client, await place(ctx, made, plan), plan.clone_mode ?? "pool");
  },
  read: async (ctx, state) => {
    const v = await ctx.client.vms.get(state.id);
    // A VM whose disk vanished is gone as far as the configuration is concerned.
    if (!v || v.state === "drifted") return null;
    return fromApi(ctx.client, v, state.clone_mode ?? v.clone_mode ?? "pool");
  },
  // power_state, stop_timeout_seconds, host_id (a live migration) and the migration policy change in place: every other argument replaces the VM.
  update: async (ctx, plan, prior) => {
    const v = await ctx.client.vms.get(prior.id);
    if (!v || v.state === "drifted") throw new Error(`VM ${prior.id} is gone; run terraform apply again to recreate it`);
    // The timeout first: a stop in the same apply waits as long as the new one says.
    const set = await setStopTimeout(ctx.client, v, plan.stop_timeout_seconds ?? null);
    return fromApi(ctx.client, await place(ctx, set, plan), prior.clone_mode);
  },
  delete: async (ctx, state) => {
    if (await ctx.client.vms.get(state.id)) await ctx.client.vms.delete(state.id);
  },
});

/** The engine names the parent of `/parents/{id}/clones` `id` and the child `names`; in this resource they are `instant_clone_of` and `name`. */
function namingParent(err: unknown, parentId: string): unknown {
  if (!(err instanceof ApiError)) return err;
  // The one child's name travels as `names[0]`; here it is `name`.
  if (err.field === "names" || err.field?.startsWith("names[")) return new ApiError(err.status, err.code, `name: ${err.message}`, "name");
  if (err.field !== "id") return err;
  const message = err.status === 404 ? `instant_clone_of: no instant-clone parent ${JSON.stringify(parentId)} on the engine (${err.message})` : `instant_clone_of: ${err.message}`;
  return new ApiError(err.status, err.code, message, "instant_clone_of");
}

/** A drifted record (its disk vanished) would block recreating the VM under its name. */
async function removeDriftedNamesake(client: ClonefleetClient, name: string): Promise<void> {
  const stale = (await client.vms.list()).find((v) => v.name === name && v.state === "drifted" && v.fleet_id === null);
  if (stale) await client.vms.delete(stale.id);
}

/** Sets the VM's stop timeout to `want` (null = the engine's default) when it differs; answers the VM. */
async function setStopTimeout(client: ClonefleetClient, v: VmWire, want: number | null): Promise<VmWire> {
  if ((v.stop_timeout_seconds ?? null) === want) return v;
  return client.vms.update(v.id, { stop_timeout_seconds: want });
}

/** The placement, power and policy the plan declares; an unset (or unknown) host_id leaves the VM where it is. */
function placementWant(plan: Planned<VmState>): PlacementWant {
  return {
    hostId: plan.host_id ?? null,
    powerState: plan.power_state ?? "stopped",
    migrationNotifyTimeoutSeconds: plan.migration_notify_timeout_seconds ?? null,
    migrationOnMissingAck: plan.migration_on_missing_ack ?? null,
  };
}

/**
 * Brings the VM to the plan's policy, host and power (planPlacement says in which order); an
 * unknown host or a stopped VM that is to move but stay stopped is refused before any change.
 * Answers the VM as it is afterwards.
 */
async function place(ctx: OperationContext<ClonefleetClient>, v: VmWire, plan: Planned<VmState>): Promise<VmWire> {
  const want = placementWant(plan);
  const steps = planPlacement(v, want);
  if (steps.some((s) => s.kind === "migrate")) await checkHostKnown(ctx.client, want.hostId!);
  return applyPlacement(ctx.client, v, steps, { signal: ctx.signal, timeoutMs: jobTimeout(ctx.timeoutMs) });
}

/**
 * The state for VM `v`. Arguments that do not apply to its origin read null, so that a
 * configuration generated from an import is one validate accepts: a fork or an instant clone
 * has no template, clone mode or datastore of its own (its disk comes from its parent).
 */
async function fromApi(client: ClonefleetClient, v: VmWire, cloneMode: string | null): Promise<VmState> {
  // The VM answer lists layer paths; the chain route adds each layer's content ID.
  const chain = await client.disks.chain(v.disk_path);
  const fromParent = Boolean(v.forked_from || v.instant_clone_of);
  return {
    id: v.id,
    name: v.name,
    template_id: fromParent ? null : (v.template_id ?? null),
    fork_of: v.forked_from ?? null,
    instant_clone_of: v.instant_clone_of ?? null,
    clone_mode: fromParent ? null : (cloneMode ?? "pool"),
    power_state: v.power_state,
    datastore_id: fromParent ? null : v.datastore_id,
    disk_path: v.disk_path,
    provisioned_by: v.provisioned_by,
    chain_depth: v.chain_depth,
    disk_chain: chain.layers.map((l) => ({ path: l.path, content_id: l.content_id })),
    state: v.crashed ? "crashed" : v.state,
    forked_from: v.forked_from ?? null,
    stop_timeout_seconds: v.stop_timeout_seconds ?? null,
    host_id: v.host_id,
    migration_notify_timeout_seconds: v.migration_notify_timeout_seconds ?? DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
    migration_on_missing_ack: v.migration_on_missing_ack ?? DEFAULT_MIGRATION_ON_MISSING_ACK,
  };
}
