import * as path from "node:path";
import { pathIsWithin } from "../model";

/** How an image names another file that qemu reads when it opens the image. */
export type ImageReferenceKind = "backing file" | "data file" | "extent";

/** One file, or pseudo-filename, an image makes qemu read besides the image file itself. */
export interface ImageReference {
  kind: ImageReferenceKind;
  /** An absolute path resolved against the image's folder, or a protocol name kept as written (`json:{…}`, `nbd://…`). */
  target: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True for a name qemu treats as a protocol rather than a path: `json:{…}` and URLs such as `nbd://host/x`. */
export function isProtocolFilename(name: string): boolean {
  return name.startsWith("json:") || /^[a-z][a-z0-9+.-]*:\/\//i.test(name);
}

/** Resolves a file name written in an image (backing file, data file, extent) against the folder of the absolute image that holds it; protocol names stay as written. */
export function resolveReference(imagePath: string, name: string): string {
  if (isProtocolFilename(name)) return name;
  return path.resolve(path.dirname(imagePath), name);
}

/**
 * Lists the files the image described by one object of `qemu-img info --output=json` makes
 * qemu open besides itself: its backing file, a qcow2 external data file, and vmdk extents
 * other than the image itself (a monolithicSparse vmdk is its own only extent); pure.
 */
export function listImageReferences(infoJson: unknown, imagePath: string): ImageReference[] {
  const abs = path.resolve(imagePath);
  if (!isRecord(infoJson)) return [];
  const refs: ImageReference[] = [];
  const backing = infoJson["backing-filename"];
  if (typeof backing === "string" && backing !== "") refs.push({ kind: "backing file", target: resolveReference(abs, backing) });
  const specific = infoJson["format-specific"];
  const data = isRecord(specific) && isRecord(specific["data"]) ? specific["data"] : {};
  const dataFile = data["data-file"];
  if (typeof dataFile === "string" && dataFile !== "") refs.push({ kind: "data file", target: resolveReference(abs, dataFile) });
  const extents = Array.isArray(data["extents"]) ? data["extents"] : [];
  for (const extent of extents) {
    const name = isRecord(extent) ? extent["filename"] : undefined;
    if (typeof name !== "string" || name === "") continue;
    const target = resolveReference(abs, name);
    // A descriptor may list one file as several extents; it is one reference.
    if (target !== abs && !refs.some((r) => r.kind === "extent" && r.target === target)) refs.push({ kind: "extent", target });
  }
  return refs;
}

/**
 * Why an image to be imported is not standalone, or null when it is: any backing file or
 * external data file is refused (its content would be flattened in), and so is an extent that
 * does not lie inside `imageFolder`. Give targets and folder with symlinks resolved, so a link
 * beside the image cannot point elsewhere; pure.
 */
export function standaloneImageProblem(refs: readonly ImageReference[], imageFolder: string): string | null {
  for (const ref of refs) {
    if (ref.kind === "extent" && !isProtocolFilename(ref.target) && pathIsWithin(imageFolder, ref.target)) continue;
    const where = ref.kind === "extent" ? ` outside its folder ${imageFolder}` : "";
    return `it reads another file: ${ref.kind} ${ref.target}${where}; only a standalone image can be imported (flatten it first, e.g. qemu-img convert -O qcow2)`;
  }
  return null;
}
