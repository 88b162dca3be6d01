import type { ClonefleetClient, TemplateWire } from "../../engine/client";
import {
  DEFAULT_MEMORY_MB,
  DEFAULT_VCPUS,
  MEMORY_MB_RANGE,
  VCPUS_RANGE,
} from "../../engine/model/rules";
import { jobTimeout } from "../client";
import { computed, defineResource, optional, required, timeouts } from "../framework";
import { REFERENCES, templateProblems, OPERATION_TIMEOUTS } from "../../engine/client/rules";
import { checkReferences, validateWith } from "./rule-diagnostics";

/** The state of `clonefleet_template`, attribute for attribute. */
export interface TemplateState {
  id: string;
  name: string;
  datastore_id: string;
  source_path: string;
  memory_mb: number;
  vcpus: number;
  kernel: string | null;
  initrd: string | null;
  cmdline: string | null;
  disk_path: string;
  content_id: string;
  virtual_size_bytes: number;
}

/** `clonefleet_template`: a disk image imported into a datastore, with machine settings. */
export const template = defineResource<TemplateState, ClonefleetClient>({
  typeName: "clonefleet_template",
  description: "A VM image to clone from: a qcow2 or raw image copied into a datastore as qcow2, with memory and vCPU settings and optional direct kernel boot.",
  attributes: {
    id: computed("string", { description: "Template id, assigned by the engine.", keepPrior: true }),
    name: required("string", { description: "Unique template name.", replace: true }),
    datastore_id: required("string", { description: "Datastore that keeps the template's disk.", replace: true }),
    source_path: required("string", { description: "qcow2 or raw image on the engine host; copied and converted at creation.", replace: true }),
    memory_mb: optional("number", { description: `Memory of VMs made from it, MiB (${MEMORY_MB_RANGE.min}–${MEMORY_MB_RANGE.max}).`, default: DEFAULT_MEMORY_MB, replace: true }),
    vcpus: optional("number", { description: `Virtual CPUs (${VCPUS_RANGE.min}–${VCPUS_RANGE.max}).`, default: DEFAULT_VCPUS, replace: true }),
    kernel: optional("string", { description: "Kernel on the engine host for direct kernel boot; copied beside the disk.", replace: true }),
    initrd: optional("string", { description: "Initrd for direct kernel boot; needs kernel.", replace: true }),
    cmdline: optional("string", { description: "Kernel command line; needs kernel.", replace: true }),
    disk_path: computed("string", { description: "Path of the template's qcow2 disk on its datastore.", keepPrior: true }),
    content_id: computed("string", { description: "Content ID of the template's disk (changes when its content does).", keepPrior: true }),
    virtual_size_bytes: computed("number", { description: "Guest-visible size of the disk.", keepPrior: true }),
  },
  blocks: { timeouts: timeouts(OPERATION_TIMEOUTS.template) },
  validate: validateWith(templateProblems),
  checkPlan: checkReferences(REFERENCES.template),
  create: async (ctx, plan) => {
    const body = {
      name: plan.name!,
      datastore_id: plan.datastore_id!,
      source_path: plan.source_path!,
      memory_mb: plan.memory_mb ?? DEFAULT_MEMORY_MB,
      vcpus: plan.vcpus ?? DEFAULT_VCPUS,
      kernel: plan.kernel ?? null,
      initrd: plan.initrd ?? null,
      cmdline: plan.cmdline ?? null,
    };
    await removeDriftedNamesake(ctx.client, body.name);
    const job = await ctx.client.templates.import(body);
    const done = await ctx.client.waitJob(job.id, { timeoutMs: jobTimeout(ctx.timeoutMs) });
    return fromApi(done.result as TemplateWire);
  },
  read: async (ctx, state) => {
    const t = await ctx.client.templates.get(state.id);
    // A template whose disk vanished is gone as far as the configuration is concerned.
    return t && t.state !== "drifted" ? fromApi(t) : null;
  },
  delete: async (ctx, state) => {
    if (await ctx.client.templates.get(state.id)) await ctx.client.templates.delete(state.id);
  },
});

/** A drifted record (its disk vanished) would block recreating the template under its name. */
async function removeDriftedNamesake(client: ClonefleetClient, name: string): Promise<void> {
  const stale = (await client.templates.list()).find((t) => t.name === name && t.state === "drifted");
  if (stale) await client.templates.delete(stale.id);
}

function fromApi(t: TemplateWire): TemplateState {
  return {
    id: t.id,
    name: t.name,
    datastore_id: t.datastore_id,
    source_path: t.source_path,
    memory_mb: t.memory_mb,
    vcpus: t.vcpus,
    kernel: t.kernel,
    initrd: t.initrd,
    cmdline: t.cmdline,
    disk_path: t.disk_path,
    content_id: t.content_id,
    virtual_size_bytes: t.virtual_size_bytes,
  };
}
