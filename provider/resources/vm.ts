import type { ChainWire, ClonefleetClient, VmWire } from "../../engine/client";
import { createVm, updateVm, type VmDeclaration, type VmJobOptions } from "../../engine/client/vm-lifecycle";
import {
  DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
  DEFAULT_MIGRATION_ON_MISSING_ACK,
  MIGRATION_NOTIFY_TIMEOUT_RANGE,
} from "../../engine/model/migration-rules";
import { jobTimeout } from "../client";
import { computed, defineResource, optional, optionalComputed, required, timeouts, type OperationContext, type Planned } from "../framework";
import type { CtyType } from "../protocol/cty";
import { OPERATION_TIMEOUTS, REFERENCES, vmProblems } from "../../engine/client/rules";
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
  host_state: string;
  migration_notify_timeout_seconds: number;
  migration_on_missing_ack: string;
  ha_restart: boolean;
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
    host_state: computed("string", {
      description:
        "`up`, or `down` when the VM's host stopped heartbeating: its power state then is the last the inventory knew, and a refresh " +
        "shows the change.",
    }),
    migration_notify_timeout_seconds: optional("number", {
      description:
        `Seconds the guest gets to acknowledge a migration notice on its \`org.clonefleet.notify.0\` channel before the engine applies ` +
        `\`migration_on_missing_ack\`; 0 (default) migrates without notice. ${MIGRATION_NOTIFY_RANGE_TEXT}. Changed in place.`,
      default: DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
    }),
    ha_restart: optional("bool", {
      description:
        "Restart the VM on another host when its host is lost, once that host is fenced (judged down and no process holding the VM's disk); " +
        "its disk must be on a shared datastore. Default false. Changed in place.",
      default: false,
    }),
    migration_on_missing_ack: optional("string", {
      description:
        "What a migration does when the guest has not acknowledged by the deadline: `abort` (the VM stays where it is and the apply fails) " +
        "or `proceed` (default: it migrates anyway). Changed in place.",
      default: DEFAULT_MIGRATION_ON_MISSING_ACK,
    }),
  },
  blocks: { timeouts: timeouts(OPERATION_TIMEOUTS.vm) },
  validate: validateWith(vmProblems),
  checkPlan: checkReferences(REFERENCES.vm),
  create: async (ctx, plan) => {
    const v = await createVm(ctx.client, declaration(plan), jobOptions(ctx));
    return fromApi(ctx.client, v, plan.fork_of || plan.instant_clone_of ? null : (plan.clone_mode ?? "pool"));
  },
  read: async (ctx, state) => {
    // The chain of the disk the state knows is read alongside the VM (a disk path seldom
    // changes), halving a refresh's round trips; fromApi reads it again when the path moved.
    const chainOfPrior = state.disk_path ? ctx.client.disks.chain(state.disk_path).catch(() => null) : null;
    const v = await ctx.client.vms.get(state.id);
    // A VM whose disk vanished is gone as far as the configuration is concerned.
    if (!v || v.state === "drifted") return null;
    return fromApi(ctx.client, v, state.clone_mode ?? v.clone_mode ?? "pool", chainOfPrior);
  },
  // power_state, stop_timeout_seconds, host_id (a live migration) and the migration policy change in place: every other argument replaces the VM.
  update: async (ctx, plan, prior) => {
    const v = await updateVm(ctx.client, prior.id, declaration(plan), jobOptions(ctx));
    if (!v) throw new Error(`VM ${prior.id} is gone; run terraform apply again to recreate it`);
    return fromApi(ctx.client, v, prior.clone_mode);
  },
  delete: async (ctx, state) => {
    if (await ctx.client.vms.get(state.id)) await ctx.client.vms.delete(state.id);
  },
});

/** The VM the plan declares; unset (or unknown) host_id and migration policy leave the VM's as they are. */
function declaration(plan: Planned<VmState>): VmDeclaration {
  return {
    name: plan.name!,
    templateId: plan.template_id ?? null,
    forkOf: plan.fork_of ?? null,
    instantCloneOf: plan.instant_clone_of ?? null,
    cloneMode: (plan.clone_mode ?? null) as VmDeclaration["cloneMode"],
    datastoreId: plan.datastore_id ?? null,
    stopTimeoutSeconds: plan.stop_timeout_seconds ?? null,
    placement: {
      hostId: plan.host_id ?? null,
      powerState: plan.power_state ?? "stopped",
      migrationNotifyTimeoutSeconds: plan.migration_notify_timeout_seconds ?? null,
      migrationOnMissingAck: plan.migration_on_missing_ack ?? null,
      haRestart: plan.ha_restart ?? null,
    },
  };
}

/** The jobs wait as long as the timeouts block allows, and stop waiting when Terraform stops the provider. */
function jobOptions(ctx: OperationContext<ClonefleetClient>): VmJobOptions {
  return { timeoutMs: jobTimeout(ctx.timeoutMs), signal: ctx.signal };
}

/**
 * The state for VM `v`. Arguments that do not apply to its origin read null, so that a
 * configuration generated from an import is one validate accepts: a fork or an instant clone
 * has no template, clone mode or datastore of its own (its disk comes from its parent).
 */
async function fromApi(client: ClonefleetClient, v: VmWire, cloneMode: string | null, chainRead: Promise<ChainWire | null> | null = null): Promise<VmState> {
  // The VM answer lists layer paths; the chain route adds each layer's content ID.
  const early = await chainRead;
  const chain = early && early.path === v.disk_path ? early : await client.disks.chain(v.disk_path);
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
    host_state: v.host_state,
    migration_notify_timeout_seconds: v.migration_notify_timeout_seconds ?? DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
    migration_on_missing_ack: v.migration_on_missing_ack ?? DEFAULT_MIGRATION_ON_MISSING_ACK,
    ha_restart: v.ha_restart ?? false,
  };
}
