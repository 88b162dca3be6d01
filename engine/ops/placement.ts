/** One datastore a clone may go to, with what placement weighs. */
export interface PlacementCandidate {
  datastoreId: string;
  /** Free bytes of its filesystem now; null when it cannot be measured (it gets nothing). */
  freeBytes: number | null;
  /** Ready pool copies of the template there (0 when clones may not come from a pool). */
  readyCopies: number;
  /** Members the fleet already has there. */
  members: number;
}

/** Where `count` new clones should go; `bytesPerCopy` is what a clone made by copying takes. */
export interface PlacementRequest {
  count: number;
  bytesPerCopy: number;
  candidates: readonly PlacementCandidate[];
}

/** The datastore of one new clone, and whether a ready pool copy there will be its disk. */
export interface Placement {
  datastoreId: string;
  fromPool: boolean;
}

/** Thrown by `placeClones` when the candidates cannot hold the clones; `placed` says how many fit. */
export class PlacementError extends Error {
  constructor(
    readonly requested: number,
    readonly placed: number,
    readonly bytesPerCopy: number,
  ) {
    super(`only ${placed} of ${requested} clones fit on the datastores (each copy needs ${bytesPerCopy} bytes of free space)`);
    this.name = "PlacementError";
  }
}

/**
 * Chooses a datastore for each of `count` new clones; pure. Ready pool copies go first (a move
 * costs a rename, a copy costs the whole disk), spread over the datastores holding them by how
 * many members each has; the rest are spread by members too, over datastores with room for a
 * copy, ties going to the one with more free space, then to the earlier candidate. Throws
 * PlacementError when free space runs out; throws RangeError for a negative count.
 */
export function placeClones(req: PlacementRequest): Placement[] {
  if (!Number.isInteger(req.count) || req.count < 0) throw new RangeError(`count must be a non-negative integer, got ${req.count}`);
  const slots = req.candidates.map((c, order) => ({
    id: c.datastoreId,
    order,
    free: c.freeBytes,
    ready: c.freeBytes === null ? 0 : Math.max(0, c.readyCopies),
    load: c.members,
  }));
  const out: Placement[] = [];
  const lessLoaded = (a: (typeof slots)[number], b: (typeof slots)[number]) =>
    a.load - b.load || (b.free ?? 0) - (a.free ?? 0) || a.order - b.order;

  while (out.length < req.count) {
    const withCopy = slots.filter((s) => s.ready > 0).sort((a, b) => a.load - b.load || b.ready - a.ready || a.order - b.order)[0];
    if (withCopy) {
      withCopy.ready -= 1;
      withCopy.load += 1;
      out.push({ datastoreId: withCopy.id, fromPool: true });
      continue;
    }
    const roomy = slots.filter((s) => s.free !== null && s.free >= req.bytesPerCopy).sort(lessLoaded)[0];
    if (!roomy) throw new PlacementError(req.count, out.length, req.bytesPerCopy);
    roomy.free = (roomy.free as number) - req.bytesPerCopy;
    roomy.load += 1;
    out.push({ datastoreId: roomy.id, fromPool: false });
  }
  return out;
}

/** One host new members may live on, with what host placement weighs. */
export interface HostCandidate {
  hostId: string;
  /** Members the fleet already has there. */
  members: number;
  /** VMs of any kind recorded running there now. */
  runningVms: number;
  /** Datastores whose files it reads (shared ones and its own). */
  reads: ReadonlySet<string>;
}

/**
 * Chooses a host for each new member, given the datastore each was placed on; pure. A member
 * goes to the host that reads its datastore and has the fewest members of the fleet (new ones
 * counted as they are placed), then the fewest running VMs, then by id. Answers null for a
 * member whose datastore no candidate reads.
 */
export function spreadOverHosts(datastoreIds: readonly string[], hosts: readonly HostCandidate[]): (string | null)[] {
  const load = new Map(hosts.map((h) => [h.hostId, h.members]));
  return datastoreIds.map((ds) => {
    const able = hosts.filter((h) => h.reads.has(ds));
    if (able.length === 0) return null;
    able.sort((a, b) => load.get(a.hostId)! - load.get(b.hostId)! || a.runningVms - b.runningVms || a.hostId.localeCompare(b.hostId));
    const chosen = able[0].hostId;
    load.set(chosen, load.get(chosen)! + 1);
    return chosen;
  });
}
