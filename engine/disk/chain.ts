import { promises as fsp } from "node:fs";
import { imageInfoChain, parseImageInfoChainJson, type ImageInfo, type QemuImgCallOptions } from "./qemu-img";

/** One layer of a disk chain; `depth` is 0 for the top layer and grows towards the base. */
export interface ChainLayer {
  path: string;
  format: string;
  virtualSizeBytes: number;
  actualSizeBytes: number;
  /** Absolute path of the layer below, or null for the base. */
  backingPath: string | null;
  backingFormat: string | null;
  depth: number;
}

function toLayers(infos: ImageInfo[]): ChainLayer[] {
  return infos.map((i, depth) => ({
    path: i.path,
    format: i.format,
    virtualSizeBytes: i.virtualSizeBytes,
    actualSizeBytes: i.actualSizeBytes,
    backingPath: i.backingPath,
    backingFormat: i.backingFormat,
    depth,
  }));
}

/** Turns the JSON of `qemu-img info --backing-chain --output=json` for the chain topped by `topPath` into layers, top first, with absolute paths; pure; throws TypeError when the JSON has the wrong shape. */
export function parseChainJson(json: unknown, topPath: string): ChainLayer[] {
  return toLayers(parseImageInfoChainJson(json, topPath));
}

/** Reads the chain topped by `path` from disk, top first, also while a running QEMU holds it; throws QemuImgError when a layer is missing or unreadable. */
export async function inspectChain(path: string, opts: QemuImgCallOptions = {}): Promise<ChainLayer[]> {
  return toLayers(await imageInfoChain(path, opts));
}

/** What a stat says about a layer file; any change to the file (write, rebase, replace, truncate) changes one of these. */
type FileSignature = string;

function signatureOf(st: { dev: bigint; ino: bigint; size: bigint; blocks: bigint; mtimeNs: bigint; ctimeNs: bigint }): FileSignature {
  return `${st.dev}:${st.ino}:${st.size}:${st.blocks}:${st.mtimeNs}:${st.ctimeNs}`;
}

async function signatures(paths: string[]): Promise<FileSignature[] | null> {
  try {
    return await Promise.all(paths.map(async (p) => signatureOf(await fsp.stat(p, { bigint: true }))));
  } catch {
    // A layer vanished or cannot be read: only qemu-img can say what that means.
    return null;
  }
}

/**
 * A file changed less than this before an inspection began is never answered from the cache: the
 * kernel stamps mtime and ctime from a coarse clock, so a write landing in the same tick as the
 * inspection would leave the stat unchanged (git's "racily clean" problem).
 */
const SETTLED_NS = 2_000_000_000n;
const CHAIN_CACHE_LIMIT = 4096;

interface CachedChain {
  layers: ChainLayer[];
  signatures: FileSignature[];
}

const chainCache = new Map<string, CachedChain>();

/**
 * inspectChain, answered from the last inspection of the same chain while a stat of each of its
 * layer files finds them unchanged. Refreshes (`terraform plan`, `pulumi refresh`) read every
 * disk's chain each time, and a qemu-img process per disk was most of their cost; a layer
 * removed, rewritten, rebased or replaced outside clonefleet changes its stat, so drift is still
 * read from the files themselves.
 */
export async function inspectChainCached(path: string, opts: QemuImgCallOptions = {}): Promise<ChainLayer[]> {
  const cached = chainCache.get(path);
  if (cached) {
    const now = await signatures(cached.layers.map((l) => l.path));
    if (now && now.every((s, i) => s === cached.signatures[i])) return cached.layers.map((l) => ({ ...l }));
    chainCache.delete(path);
  }
  const startedNs = BigInt(Date.now()) * 1_000_000n;
  const layers = await inspectChain(path, opts);
  const stats = await Promise.all(layers.map((l) => fsp.stat(l.path, { bigint: true }).catch(() => null)));
  // Cached only when every layer had settled before qemu-img read it, and still has (stats taken after the read).
  if (stats.every((st) => st !== null && st.mtimeNs + SETTLED_NS < startedNs && st.ctimeNs + SETTLED_NS < startedNs)) {
    if (chainCache.size >= CHAIN_CACHE_LIMIT) chainCache.delete(chainCache.keys().next().value!);
    chainCache.set(path, { layers, signatures: stats.map((st) => signatureOf(st!)) });
  }
  return layers;
}
