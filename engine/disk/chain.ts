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
