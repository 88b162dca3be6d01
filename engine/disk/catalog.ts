import { randomBytes } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as path from "node:path";
import { isContentId } from "./content-id";
import { ENGINE_FILE_MODE } from "./file-modes";
import { engineDir, isInside } from "./layout";

const CATALOG_FORMAT = "clonefleet-catalog";
const CATALOG_VERSION = 1;

/** One layer listed in a datastore's catalog; `readCatalog` gives absolute paths, `writeCatalog` takes absolute ones or ones relative to the root, and the file stores them relative to the root. */
export interface CatalogEntry {
  /** Path of the layer file; it must lie inside the datastore root. */
  path: string;
  contentId: string;
  parentContentId: string | null;
  /** Path of the backing file (may lie outside the root), or null for a base layer. */
  backingPath: string | null;
  virtualSizeBytes: number;
  format: string;
}

/** Thrown when a catalog file cannot be read or written as a catalog; the message names the file. */
export class CatalogError extends Error {
  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`catalog ${file}: ${detail}`, options);
    this.name = "CatalogError";
  }
}

/** The catalog file of the datastore at `root`. */
export function catalogPath(root: string): string {
  return path.join(engineDir(root), "catalog.json");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fromStored(root: string, file: string, raw: unknown, index: number): CatalogEntry {
  const bad = (why: string) => new CatalogError(file, `layers[${index}]: ${why}`);
  if (!isRecord(raw)) throw bad("not an object");
  const rel = raw["path"];
  if (typeof rel !== "string" || rel === "" || path.isAbsolute(rel)) throw bad("path must be a non-empty relative path");
  const abs = path.resolve(root, rel);
  // A catalog copied from elsewhere must not point the engine at files outside this datastore.
  if (!isInside(root, abs)) throw bad(`path ${JSON.stringify(rel)} leaves the datastore`);
  if (!isContentId(raw["content_id"])) throw bad("content_id must be 32 lowercase hex digits");
  const parent = raw["parent_content_id"];
  if (parent !== null && !isContentId(parent)) throw bad("parent_content_id must be null or 32 lowercase hex digits");
  const backing = raw["backing_path"];
  if (backing !== null && (typeof backing !== "string" || backing === "")) throw bad("backing_path must be null or a path");
  const size = raw["virtual_size_bytes"];
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw bad("virtual_size_bytes must be a non-negative integer");
  const format = raw["format"];
  if (typeof format !== "string" || format === "") throw bad("format must be a string");
  return {
    path: abs,
    contentId: raw["content_id"] as string,
    parentContentId: parent as string | null,
    backingPath: backing === null ? null : path.resolve(root, backing as string),
    virtualSizeBytes: size,
    format,
  };
}

/** Reads the catalog of the datastore at `root`; a missing file is an empty catalog; throws CatalogError when the file is unreadable, malformed or of another version. */
export async function readCatalog(root: string): Promise<CatalogEntry[]> {
  const absRoot = path.resolve(root);
  const file = catalogPath(absRoot);
  let text: string;
  try {
    text = await fsp.readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new CatalogError(file, `cannot read it (${(err as Error).message})`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CatalogError(file, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isRecord(doc) || doc["format"] !== CATALOG_FORMAT) {
    throw new CatalogError(file, `not a ${CATALOG_FORMAT} document`);
  }
  if (doc["version"] !== CATALOG_VERSION) {
    throw new CatalogError(file, `unsupported version ${JSON.stringify(doc["version"])} (this engine reads version ${CATALOG_VERSION})`);
  }
  const layers = doc["layers"];
  if (!Array.isArray(layers)) throw new CatalogError(file, "layers must be an array");
  return layers.map((l, i) => fromStored(absRoot, file, l, i));
}

function toStored(root: string, file: string, e: CatalogEntry): Record<string, unknown> {
  const abs = path.resolve(root, e.path);
  if (!isInside(root, abs)) throw new CatalogError(file, `layer ${abs} is outside the datastore`);
  if (!isContentId(e.contentId)) throw new CatalogError(file, `layer ${abs}: invalid content ID ${JSON.stringify(e.contentId)}`);
  if (e.parentContentId !== null && !isContentId(e.parentContentId)) {
    throw new CatalogError(file, `layer ${abs}: invalid parent content ID ${JSON.stringify(e.parentContentId)}`);
  }
  if (!Number.isSafeInteger(e.virtualSizeBytes) || e.virtualSizeBytes < 0) {
    throw new CatalogError(file, `layer ${abs}: invalid virtual size ${e.virtualSizeBytes}`);
  }
  let backing: string | null = null;
  if (e.backingPath !== null) {
    const absBacking = path.resolve(root, e.backingPath);
    // Relative inside the root so the catalog stays true when the datastore is mounted elsewhere.
    backing = isInside(root, absBacking) ? toPortable(path.relative(root, absBacking)) : absBacking;
  }
  return {
    path: toPortable(path.relative(root, abs)),
    content_id: e.contentId,
    parent_content_id: e.parentContentId,
    backing_path: backing,
    virtual_size_bytes: e.virtualSizeBytes,
    format: e.format,
  };
}

function toPortable(rel: string): string {
  return rel.split(path.sep).join("/");
}

/** Replaces the catalog of the datastore at `root` with `entries`, sorted by path, atomically (temp file, fsync, rename, fsync of the folder); callers serialise read-modify-write cycles; throws CatalogError for an invalid or duplicate entry, or the file system's error. */
export async function writeCatalog(root: string, entries: readonly CatalogEntry[]): Promise<void> {
  const absRoot = path.resolve(root);
  const file = catalogPath(absRoot);
  const layers = entries.map((e) => toStored(absRoot, file, e));
  layers.sort((a, b) => ((a.path as string) < (b.path as string) ? -1 : (a.path as string) > (b.path as string) ? 1 : 0));
  for (let i = 1; i < layers.length; i++) {
    if (layers[i].path === layers[i - 1].path) throw new CatalogError(file, `layer ${String(layers[i].path)} is listed twice`);
  }
  const doc = { format: CATALOG_FORMAT, version: CATALOG_VERSION, updated_at: new Date().toISOString(), layers };
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.catalog.json.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const fh = await fsp.open(tmp, "wx", ENGINE_FILE_MODE);
    try {
      await fh.writeFile(`${JSON.stringify(doc, null, 2)}\n`, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  // The rename is durable only once the folder's entry is on disk.
  const dh = await fsp.open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
