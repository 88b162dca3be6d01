import { promises as fs } from "node:fs";
import * as path from "node:path";
import { catalogPath, engineDir, ensureLayout, removeOwnedTree, tmpDir, writeCatalog } from "../disk";
import { conflict, EngineError, invalidField, notFound } from "../errors";
import { datastorePathProblem, nameProblem, newId, nowIso, pathIsWithin, type Datastore } from "../model";
import { StoreConstraintError } from "../store";
import type { OpContext } from "./context";
import { datastoreUsersProblem } from "./clone-users";

export interface AddDatastoreRequest {
  name: string;
  path: string;
}

/** A datastore with what the engine measured of it now. */
export interface DatastoreStatus extends Datastore {
  freeBytes: number | null;
  totalBytes: number | null;
  reachable: boolean;
}

/**
 * Registers a directory as a datastore, creating it (and the engine's own subfolder) when
 * missing. Refuses bad names and paths (system folders, control characters, the engine's
 * state folder, also when reached through a symlink), duplicates, and a path inside or around
 * another datastore, before touching anything.
 */
export async function addDatastore(ctx: OpContext, req: AddDatastoreRequest): Promise<DatastoreStatus> {
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  // Checked before any file access: resolving a path under /proc can follow loops for ever.
  const pathIssue = datastorePathProblem(req.path);
  if (pathIssue) throw invalidField("path", pathIssue);
  const resolved = await resolveExisting(path.resolve(req.path));
  const resolvedIssue = datastorePathProblem(resolved);
  if (resolvedIssue) throw invalidField("path", `${req.path} resolves to ${resolved}: ${resolvedIssue}`);

  const existingByName = ctx.store.findDatastoreByName(req.name);
  if (existingByName) throw conflict(`a datastore named ${JSON.stringify(req.name)} already exists (${existingByName.id})`, "name");
  for (const other of ctx.store.listDatastores()) {
    if (other.path === resolved) throw conflict(`path ${resolved} is already datastore ${JSON.stringify(other.name)} (${other.id})`, "path");
    if (pathIsWithin(other.path, resolved)) {
      throw conflict(`path ${resolved} lies inside datastore ${JSON.stringify(other.name)} (${other.path})`, "path");
    }
    if (pathIsWithin(resolved, other.path)) {
      throw conflict(`path ${resolved} contains datastore ${JSON.stringify(other.name)} (${other.path})`, "path");
    }
  }
  await refuseStateFolder(ctx, resolved);
  const st = await fs.stat(resolved).catch(() => null);
  if (st && !st.isDirectory()) throw invalidField("path", `${resolved} exists and is not a directory`);

  await fs.mkdir(resolved, { recursive: true });
  await ensureLayout(resolved);
  // Keep a catalog another engine left here; a fresh datastore gets an empty one.
  if (!(await exists(catalogPath(resolved)))) await writeCatalog(resolved, []);

  const ds: Datastore = { id: newId("ds"), name: req.name, path: resolved, createdAt: nowIso() };
  try {
    ctx.store.tx((s) => s.insertDatastore(ds));
  } catch (err) {
    if (err instanceof StoreConstraintError) throw conflict(`datastore ${err.column ?? "name or path"} already in use`, err.column);
    throw err;
  }
  ctx.log.info({ datastoreId: ds.id, path: ds.path }, "datastore added");
  return measureDatastore(ds);
}

/** The datastore with this id, measured now; 404 when unknown. */
export async function getDatastore(ctx: OpContext, id: string): Promise<DatastoreStatus> {
  const ds = ctx.store.getDatastore(id);
  if (!ds) throw notFound("datastore", id, "id");
  return measureDatastore(ds);
}

/** Every datastore, measured now. */
export async function listDatastores(ctx: OpContext): Promise<DatastoreStatus[]> {
  return Promise.all(ctx.store.listDatastores().map(measureDatastore));
}

/**
 * Forgets a datastore. Refused while any template or disk layer lives on it (the error names
 * them). The user's directory stays; the engine's own folder goes when it holds nothing else.
 */
export async function removeDatastore(ctx: OpContext, id: string): Promise<void> {
  const ds = ctx.store.getDatastore(id);
  if (!ds) throw notFound("datastore", id, "id");
  const templates = ctx.store.listTemplates({ datastoreId: id });
  if (templates.length > 0) {
    throw conflict(`datastore ${JSON.stringify(ds.name)} still holds templates: ${templates.map((t) => `${t.name} (${t.id})`).join(", ")}`, "id");
  }
  const users = datastoreUsersProblem(ctx.store, id);
  if (users) throw conflict(`datastore ${JSON.stringify(ds.name)} ${users}`, "id");
  const layers = ctx.store.listLayers({ datastoreId: id });
  if (layers.length > 0) {
    throw conflict(`datastore ${JSON.stringify(ds.name)} still holds disk layers: ${layers.map((l) => l.path).join(", ")}`, "id");
  }
  ctx.store.tx((s) => s.deleteDatastore(id));
  await removeEngineFolderIfEmpty(ds.path);
  ctx.log.info({ datastoreId: id }, "datastore removed");
}

/** Free and total bytes of the filesystem under the datastore, or nulls when it is gone. */
export async function measureDatastore(ds: Datastore): Promise<DatastoreStatus> {
  try {
    const st = await fs.statfs(ds.path);
    return { ...ds, freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize, reachable: true };
  } catch {
    return { ...ds, freeBytes: null, totalBytes: null, reachable: false };
  }
}

async function removeEngineFolderIfEmpty(root: string): Promise<void> {
  const dir = engineDir(root);
  const entries = await fs.readdir(dir).catch(() => null);
  if (!entries) return;
  const tmpEntries = await fs.readdir(tmpDir(root)).catch(() => []);
  const rest = entries.filter((e) => e !== "catalog.json" && e !== "tmp" && e !== "templates");
  const templatesLeft = await fs.readdir(path.join(dir, "templates")).catch(() => []);
  if (rest.length === 0 && tmpEntries.length === 0 && templatesLeft.length === 0) {
    await removeOwnedTree(root, dir);
  }
}

/** Refuses a datastore in or around the engine's state folder: orphan cleanup and catalogs must never reach the inventory or the token. */
async function refuseStateFolder(ctx: OpContext, resolved: string): Promise<void> {
  const stateDir = ctx.settings.stateDir;
  if (!stateDir) return;
  const realState = await fs.realpath(stateDir).catch(() => path.resolve(stateDir));
  if (pathIsWithin(realState, resolved)) throw invalidField("path", `${resolved} lies in the engine's state folder ${realState}`);
  if (pathIsWithin(resolved, realState)) throw invalidField("path", `${resolved} contains the engine's state folder ${realState}`);
}

/** Resolves symlinks in the part of `p` that exists, so nesting checks see real locations. */
async function resolveExisting(p: string): Promise<string> {
  let head = p;
  const tail: string[] = [];
  for (;;) {
    try {
      const real = await fs.realpath(head);
      return path.join(real, ...tail.reverse());
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new EngineError("CF_INVALID_FIELD", 400, `path: cannot read ${head}: ${(err as Error).message}`, "path");
      const parent = path.dirname(head);
      if (parent === head) return p;
      tail.push(path.basename(head));
      head = parent;
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}
