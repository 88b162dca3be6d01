/**
 * Pure planning of snapshot consolidation (S4): given a VM's chain and the snapshot to
 * delete, which layer is committed into which, and who owns what afterwards. No I/O.
 *
 * A VM with snapshots s1 (oldest) … sn has the chain `active → F(sn) → … → F(s1) → base…`.
 * A snapshot is the point in time its frozen layer F holds. Deleting it merges the layer just
 * above F (its child C: the next snapshot's frozen layer, or the active layer) down into F,
 * and F takes over C's role. The chain is one layer shorter and every remaining point in time
 * reads the same as before, since C over F equals F after the merge.
 */

/** One layer of a VM's chain as planning sees it, top first. */
export interface PlanLayer {
  id: string;
  path: string;
  /** The snapshot that owns this layer as its frozen layer; null for the active layer and layers below the first snapshot. */
  snapshotId: string | null;
}

/** What deleting one snapshot does. */
export interface ConsolidationPlan {
  /** The snapshot being deleted. */
  snapshotId: string;
  /** Where the data goes: the snapshot's frozen layer. It takes over `top`'s role. */
  base: PlanLayer;
  /** The layer merged into `base` and then removed: the child of `base` in the chain. */
  top: PlanLayer;
  /** True when `top` is the VM's active layer: live, QEMU runs an active commit (a mirror) that needs a pivot. */
  active: boolean;
  /** The layer right above `top`, whose backing file becomes `base`; null when `top` is the active layer. */
  above: PlanLayer | null;
  /** The new owner of `base`: the VM (it becomes the active layer) or the snapshot that owned `top`. */
  baseNewOwner: { kind: "vm" } | { kind: "snapshot"; snapshotId: string };
}

/** Why a plan cannot be made. */
export class ConsolidationPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConsolidationPlanError";
  }
}

/**
 * Plans the deletion of `snapshotId` on `chain` (top first, index 0 is the active layer);
 * throws ConsolidationPlanError when the snapshot's layer is not in the chain or is the
 * active layer itself.
 */
export function planConsolidation(chain: readonly PlanLayer[], snapshotId: string): ConsolidationPlan {
  if (chain.length === 0) throw new ConsolidationPlanError("the chain is empty");
  if (chain[0].snapshotId !== null) throw new ConsolidationPlanError(`the active layer ${chain[0].path} belongs to snapshot ${chain[0].snapshotId}`);
  const at = chain.findIndex((l) => l.snapshotId === snapshotId);
  if (at < 0) throw new ConsolidationPlanError(`snapshot ${snapshotId} has no layer in the chain`);
  const base = chain[at];
  const top = chain[at - 1];
  const active = at - 1 === 0;
  return {
    snapshotId,
    base,
    top,
    active,
    above: active ? null : chain[at - 2],
    baseNewOwner: top.snapshotId === null ? { kind: "vm" } : { kind: "snapshot", snapshotId: top.snapshotId },
  };
}

/** The chain as it is after `plan` ran: `top` gone, `base` in its place with its new owner. */
export function chainAfter(chain: readonly PlanLayer[], plan: ConsolidationPlan): PlanLayer[] {
  const out: PlanLayer[] = [];
  for (const l of chain) {
    if (l.id === plan.top.id) continue;
    if (l.id === plan.base.id) out.push({ ...l, snapshotId: plan.baseNewOwner.kind === "vm" ? null : plan.baseNewOwner.snapshotId });
    else out.push(l);
  }
  return out;
}

/** A file name for a new active overlay in a VM's home folder; `tag` keeps names unique. */
export function overlayFileName(tag: string): string {
  if (!/^[a-z0-9]{4,64}$/.test(tag)) throw new ConsolidationPlanError(`bad overlay tag ${JSON.stringify(tag)}`);
  return `disk-${tag}.qcow2`;
}
