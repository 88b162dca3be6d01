/**
 * References between resources (a VM's template_id, a pool's datastore_id, …) that a plan can
 * check against the engine once their values are known, so that a typo in an id fails at
 * plan or preview instead of halfway through an apply.
 */
import type { ClonefleetClient } from "../index";
import { knownValue, type Face, type RuleProblem } from "./reading";

/** What an id refers to. */
export type ReferenceKind = "template" | "datastore" | "vm" | "parent" | "host";

/** Each resource's reference attributes (rule-book naming) and what they name; a list names one per item. */
export const REFERENCES = {
  template: { datastore_id: "datastore" },
  replica: { template_id: "template", target_datastore_id: "datastore" },
  disk_pool: { template_id: "template", datastore_id: "datastore" },
  vm: { template_id: "template", fork_of: "vm", instant_clone_of: "parent", datastore_id: "datastore", host_id: "host" },
  fleet: { template_id: "template", datastore_ids: "datastore", host_ids: "host" },
  snapshot: { vm_id: "vm" },
  instant_clone_parent: { source_vm_id: "vm" },
} as const satisfies Record<string, Record<string, ReferenceKind>>;

/** One known id to look up, with the attribute path (face naming) that holds it. */
export interface Reference {
  attribute: string;
  kind: ReferenceKind;
  id: string;
}

const NOUN: Record<ReferenceKind, string> = { template: "template", datastore: "datastore", vm: "VM", parent: "instant-clone parent", host: "host" };

/**
 * The known ids among `attributes` of `config`; with `prior` (the state or inputs before this
 * change, face naming), only the ones that differ from it: what exists already was checked when
 * it was planned, and a refresh says when it went away.
 */
export function knownReferences(
  config: Readonly<Record<string, unknown>>,
  face: Face,
  attributes: Readonly<Record<string, ReferenceKind>>,
  prior?: Readonly<Record<string, unknown>> | null,
): Reference[] {
  const refs: Reference[] = [];
  for (const [name, kind] of Object.entries(attributes)) {
    const attr = face.attr(name);
    const v = config[attr];
    if (!knownValue(face, v)) continue;
    if (prior && JSON.stringify(prior[attr]) === JSON.stringify(v)) continue;
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        if (typeof item === "string" && item !== "" && knownValue(face, item)) refs.push({ attribute: `${attr}[${i}]`, kind, id: item });
      });
    } else if (typeof v === "string" && v !== "") refs.push({ attribute: attr, kind, id: v });
  }
  return refs;
}

/** Whether the engine has the object `ref` names (a VM whose disk vanished counts as missing). */
async function exists(client: ClonefleetClient, ref: Reference): Promise<boolean> {
  switch (ref.kind) {
    case "template":
      return (await client.templates.get(ref.id)) !== null;
    case "datastore":
      return (await client.datastores.get(ref.id)) !== null;
    case "vm": {
      const vm = await client.vms.get(ref.id);
      return vm !== null && vm.state !== "drifted";
    }
    case "parent":
      return (await client.parents.get(ref.id)) !== null;
    case "host":
      return (await client.hosts.get(ref.id)) !== null;
  }
}

/**
 * A problem for each reference the engine does not know; an unreachable engine or a refused
 * token throws (the caller decides whether that fails the plan).
 */
export async function referenceProblems(client: ClonefleetClient, refs: readonly Reference[]): Promise<RuleProblem[]> {
  const missing = await Promise.all(refs.map(async (ref) => ((await exists(client, ref)) ? null : ref)));
  return missing
    .filter((ref): ref is Reference => ref !== null)
    .map((ref) => ({
      attribute: ref.attribute,
      summary: `Unknown ${NOUN[ref.kind]}`,
      reason: `names no ${NOUN[ref.kind]} on the engine at ${client.endpoint} (got ${JSON.stringify(ref.id)}); use the id of an existing ${NOUN[ref.kind]} or of one declared in this configuration`,
    }));
}
