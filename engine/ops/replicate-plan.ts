/**
 * The replication planner (S7), pure: given the source chain with its content IDs, what the
 * target's catalog offers and what a replica already holds there, it decides which layers to
 * copy, which to keep and which to reuse. No I/O; the side effects live in replicate.ts.
 */

/** One layer of the source chain as the planner sees it (the chain is given top first). */
export interface PlanSourceLayer {
  path: string;
  format: string;
  virtualSizeBytes: number;
  /** Size of the file: what copying this layer costs. */
  sizeBytes: number;
  contentId: string;
  /** The content ID its parent had when this layer was made; null for a base. */
  parentContentId: string | null;
}

/** One layer of a candidate's chain on the target, as the catalogs vouch for it (null: nobody does). */
export interface PlanChainLayer {
  path: string;
  contentId: string | null;
  parentContentId: string | null;
  virtualSizeBytes: number;
}

/**
 * A layer the target's catalog lists under a content ID the planner may look for, with what
 * its file says now: `file` is null when it is missing or unreadable, `chain` (the candidate
 * first, then its backing chain) is null when the chain cannot be opened.
 */
export interface PlanCandidate {
  path: string;
  contentId: string;
  file: { format: string; virtualSizeBytes: number } | null;
  chain: PlanChainLayer[] | null;
}

/** A layer a replica copied in an earlier run (for a repair); `intact` when it may be kept as is. */
export interface PlanOwnLayer {
  position: number;
  path: string;
  contentId: string;
  intact: boolean;
  /** The backing file its header names now. */
  backingPath: string | null;
}

/** Copy the source layer to `targetPath`, then point it at `parentTargetPath` (null: a base). */
export interface CopyStep {
  action: "copy";
  position: number;
  source: PlanSourceLayer;
  targetPath: string;
  parentTargetPath: string | null;
}

/** Keep an intact layer of this replica; `rebase` says its backing file must be re-pointed at `parentTargetPath`. */
export interface KeepStep {
  action: "keep";
  position: number;
  source: PlanSourceLayer;
  targetPath: string;
  parentTargetPath: string | null;
  rebase: boolean;
}

/** Rely on a layer found on the target (the layer whose content ID matched, and the chain below it). */
export interface ReuseStep {
  action: "reuse";
  position: number;
  source: PlanSourceLayer;
  targetPath: string;
  contentId: string;
  parentContentId: string | null;
  virtualSizeBytes: number;
}

export type PlanStep = CopyStep | KeepStep | ReuseStep;

/** A source link whose child recorded another parent content ID than the parent has now (null: it recorded none). */
export interface StaleLink {
  childPath: string;
  recordedParentContentId: string | null;
  parentPath: string;
  parentContentId: string;
}

/** A target layer whose content ID matched but which may not be reused, and why. */
export interface RefusedCandidate {
  targetPath: string;
  contentId: string;
  reason: string;
}

/** What to do: `steps` is the whole target chain, top first, one step per source position. */
export interface ReplicationPlan {
  steps: PlanStep[];
  staleLinks: StaleLink[];
  refused: RefusedCandidate[];
  bytesToCopy: number;
}

/** What the planner is given. */
export interface PlanInput {
  /** The source chain, top first; the last layer is the base. */
  source: PlanSourceLayer[];
  /** Target layers listed in the target's catalog; the planner picks those with the content ID it looks for, in this order. */
  candidates: PlanCandidate[];
  /** The replica's own layers from earlier runs (repair); empty for a new replica. */
  own?: PlanOwnLayer[];
  /** Where a copy of the source layer at `position` goes on the target. */
  copyPath(position: number, contentId: string): string;
}

/** Thrown by `planReplication` when the source chain it is given is not a chain it can plan for. */
export class PlanInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlanInputError";
  }
}

/**
 * Plans a replication top-down: the top layer is copied (or kept, when the replica already
 * holds it intact); then, for each copied or kept layer, the target is searched for a layer
 * whose content ID equals the parent content ID the layer recorded. When one passes every
 * check (same format and virtual size as the source parent, and a backing chain on the target
 * whose content IDs equal the source's below that point), it is reused and the walk stops;
 * otherwise the parent is copied too and the walk goes on. A link whose child recorded another
 * parent content ID than the parent has now is stale: nothing is reused for it. Pure; throws
 * PlanInputError for an empty source chain.
 */
export function planReplication(input: PlanInput): ReplicationPlan {
  const { source } = input;
  if (source.length === 0) throw new PlanInputError("the source chain has no layers");
  const staleLinks = findStaleLinks(source);
  const staleAt = new Set(staleLinks.map((s) => s.childPath));
  const own = new Map<number, PlanOwnLayer>();
  for (const o of input.own ?? []) {
    if (o.intact && o.contentId === source[o.position]?.contentId) own.set(o.position, o);
  }
  const refused: RefusedCandidate[] = [];
  const steps: PlanStep[] = [];

  // The target path each position will have, decided as the walk reaches it.
  const placeOf = (position: number): { kind: "keep"; own: PlanOwnLayer } | { kind: "copy"; path: string } => {
    const o = own.get(position);
    return o ? { kind: "keep", own: o } : { kind: "copy", path: input.copyPath(position, source[position].contentId) };
  };

  for (let i = 0; i < source.length; i++) {
    const layer = source[i];
    const place = placeOf(i);
    const targetPath = place.kind === "keep" ? place.own.path : place.path;
    const isBase = i === source.length - 1;

    let parentTargetPath: string | null = null;
    let reused: ReuseStep[] | null = null;
    if (!isBase) {
      const parent = source[i + 1];
      const parentPlace = own.has(i + 1) ? own.get(i + 1)!.path : null;
      if (parentPlace) {
        // The replica's own intact copy of the parent holds the parent's current content.
        parentTargetPath = parentPlace;
      } else {
        if (!staleAt.has(layer.path)) {
          reused = findReusable(input.candidates, layer.parentContentId!, source, i + 1, refused);
        }
        parentTargetPath = reused ? reused[0].targetPath : input.copyPath(i + 1, parent.contentId);
      }
    }

    if (place.kind === "keep") {
      steps.push({ action: "keep", position: i, source: layer, targetPath, parentTargetPath, rebase: place.own.backingPath !== parentTargetPath });
    } else {
      steps.push({ action: "copy", position: i, source: layer, targetPath, parentTargetPath });
    }
    if (reused) {
      steps.push(...reused);
      break;
    }
  }
  const bytesToCopy = steps.reduce((sum, s) => sum + (s.action === "copy" ? s.source.sizeBytes : 0), 0);
  return { steps, staleLinks, refused, bytesToCopy };
}

/** Every link of the chain (top first) whose child recorded another parent content ID than its parent has now. */
export function findStaleLinks(source: readonly PlanSourceLayer[]): StaleLink[] {
  const out: StaleLink[] = [];
  for (let i = 0; i + 1 < source.length; i++) {
    const child = source[i];
    const parent = source[i + 1];
    // A child that recorded no parent content ID cannot vouch for any parent content either.
    if (child.parentContentId !== parent.contentId) {
      out.push({ childPath: child.path, recordedParentContentId: child.parentContentId, parentPath: parent.path, parentContentId: parent.contentId });
    }
  }
  return out;
}

/**
 * The first candidate listed under `contentId` that may stand in for the source layers from
 * `position` down, as reuse steps (the candidate, then its chain); every candidate that fails a
 * check is added to `refused` with the reason.
 */
function findReusable(
  candidates: readonly PlanCandidate[],
  contentId: string,
  source: readonly PlanSourceLayer[],
  position: number,
  refused: RefusedCandidate[],
): ReuseStep[] | null {
  for (const c of candidates) {
    if (c.contentId !== contentId) continue;
    const reason = refusal(c, source, position);
    if (reason) {
      if (!refused.some((r) => r.targetPath === c.path && r.contentId === c.contentId)) {
        refused.push({ targetPath: c.path, contentId: c.contentId, reason });
      }
      continue;
    }
    return c.chain!.map((l, j) => ({
      action: "reuse",
      position: position + j,
      source: source[position + j],
      targetPath: l.path,
      contentId: l.contentId!,
      parentContentId: l.parentContentId,
      virtualSizeBytes: l.virtualSizeBytes,
    }));
  }
  return null;
}

/** Why candidate `c` may not stand in for the source layers from `position` down, or null when it may. */
export function refusal(c: PlanCandidate, source: readonly PlanSourceLayer[], position: number): string | null {
  const wanted = source[position];
  if (!c.file) return "its file is missing or cannot be read";
  if (c.file.format !== wanted.format) return `its format is ${c.file.format}, the source layer's is ${wanted.format}`;
  if (c.file.virtualSizeBytes !== wanted.virtualSizeBytes) {
    return `its virtual size is ${c.file.virtualSizeBytes} bytes, the source layer's is ${wanted.virtualSizeBytes}`;
  }
  if (!c.chain) return "its backing chain cannot be opened";
  const below = source.length - position;
  if (c.chain.length !== below) return `its chain has ${c.chain.length} layer(s) where the source has ${below} from that layer down`;
  for (let j = 0; j < below; j++) {
    const t = c.chain[j];
    const s = source[position + j];
    if (t.contentId === null) return `layer ${t.path} of its chain is vouched for by no catalog`;
    if (t.contentId !== s.contentId) return `layer ${t.path} of its chain has content ID ${t.contentId} where the source layer ${s.path} has ${s.contentId}`;
  }
  return null;
}
