import { promises as fs } from "node:fs";
import * as path from "node:path";
import { catalogPath, engineDir, ensureLayout, removeOwnedTree, tmpDir, writeCatalog } from "../disk";
import { conflict, EngineError, invalidField, notFound } from "../errors";
import { datastorePathProblem, LOCAL_HOST_ID, nameProblem, newId, nowIso, pathIsWithin, type Datastore } from "../model";
import { StoreConstraintError, type Inventory } from "../store";
import { settleCatalog } from "./catalog-sync";
import type { OpContext } from "./context";
import { datastoreUsersProblem } from "./clone-users";
import { faultHold } from "./fault-hold";

export interface AddDatastoreRequest {
  name: string;
  path: string;
  /** The one host that can read it; null (or absent) for a datastore shared by every host at the same path. */
  hostId?: string | null;
}

/**
 * Whose a new datastore is, from what the user declared: `host_id` names its host; `shared: false`
 * alone makes it the receiving host's; otherwise it is shared. 400 naming `shared` when both a
 * host and `shared: true` are given. Pure.
 */
export function datastoreHostOf(declared: { shared?: boolean | null; hostId?: string | null }, receivingHostId: string): string | null {
  const hostId = declared.hostId ?? null;
  if (hostId !== null && declared.shared === true) throw invalidField("shared", `a datastore is shared by every host or belongs to host_id ${JSON.stringify(hostId)}, not both`);
  if (hostId !== null) return hostId;
  return declared.shared === false ? receivingHostId : null;
}

/** True when host `hostId` can read the files of datastore `ds` (it is shared, or that host's own). */
export function datastoreVisibleFrom(ds: Datastore, hostId: string): boolean {
  return ds.hostId === null || ds.hostId === hostId;
}

/** How a datastore's reach reads in messages: "shared" or "local to host b". */
export function datastoreReach(ds: Datastore): string {
  return ds.hostId === null ? "shared by every host" : `local to host ${ds.hostId}`;
}

/** A datastore with what the engine measured of it now. */
export interface DatastoreStatus extends Datastore {
  freeBytes: number | null;
  totalBytes: number | null;
  reachable: boolean;
}

/** What `datastore.create` is about to make, recorded before any folder is made so recovery can undo it. */
export interface DatastoreAddPlan {
  id: string;
  name: string;
  path: string;
  /** True when the directory itself did not exist (the engine makes it). */
  madeRoot: boolean;
  /** True when the engine's `clonefleet/` folder did not exist there. */
  madeEngineDir: boolean;
}

/**
 * Checks a datastore request against the inventory and the filesystem, touching nothing:
 * refuses bad names and paths (system folders, control characters, the engine's state folder,
 * also when reached through a symlink), duplicates, and a path inside or around another
 * datastore. Answers the path with symlinks resolved; throws a 4xx EngineError naming the field.
 */
export async function checkDatastoreAdd(ctx: OpContext, req: AddDatastoreRequest): Promise<string> {
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  // Checked before any file access: resolving a path under /proc can follow loops for ever.
  const pathIssue = datastorePathProblem(req.path);
  if (pathIssue) throw invalidField("path", pathIssue);
  if (req.hostId) {
    const host = await ctx.store.hosts.get(req.hostId);
    if (!host) throw notFound("host", req.hostId, "host_id");
  }
  const self = ctx.settings.hostId ?? LOCAL_HOST_ID;
  if (req.hostId && req.hostId !== self) {
    // Another host's folder: this machine cannot look at it. That host's job checks the
    // filesystem again before it makes anything.
    await checkDatastoreUnique(ctx.store, req.name, path.resolve(req.path));
    return path.resolve(req.path);
  }
  const resolved = await resolveExisting(path.resolve(req.path));
  const resolvedIssue = datastorePathProblem(resolved);
  if (resolvedIssue) throw invalidField("path", `${req.path} resolves to ${resolved}: ${resolvedIssue}`);
  await checkDatastoreUnique(ctx.store, req.name, resolved);
  await refuseStateFolder(ctx, resolved);
  const st = await fs.stat(resolved).catch(() => null);
  if (st && !st.isDirectory()) throw invalidField("path", `${resolved} exists and is not a directory`);
  return resolved;
}

/** Refuses a name another datastore has and a (resolved) path that is, lies in or contains another datastore's; 409 naming the field. */
export async function checkDatastoreUnique(store: Inventory, name: string, resolved: string): Promise<void> {
  const existingByName = await store.datastores.findByName(name);
  if (existingByName) throw conflict(`a datastore named ${JSON.stringify(name)} already exists (${existingByName.id})`, "name");
  for (const other of await store.datastores.list()) {
    if (other.path === resolved) throw conflict(`path ${resolved} is already datastore ${JSON.stringify(other.name)} (${other.id})`, "path");
    if (pathIsWithin(other.path, resolved)) {
      throw conflict(`path ${resolved} lies inside datastore ${JSON.stringify(other.name)} (${other.path})`, "path");
    }
    if (pathIsWithin(resolved, other.path)) {
      throw conflict(`path ${resolved} contains datastore ${JSON.stringify(other.name)} (${other.path})`, "path");
    }
  }
}

/**
 * Registers a directory as a datastore, creating it (and the engine's own subfolder) when
 * missing. Checks as `checkDatastoreAdd` before touching anything, then calls `beforeChange`
 * with what it is about to make (a job records it as its intent).
 */
export async function addDatastore(ctx: OpContext, req: AddDatastoreRequest, beforeChange?: (plan: DatastoreAddPlan) => Promise<void> | void): Promise<DatastoreStatus> {
  const resolved = await checkDatastoreAdd(ctx, req);
  const plan: DatastoreAddPlan = {
    id: newId("ds"),
    name: req.name,
    path: resolved,
    madeRoot: !(await exists(resolved)),
    madeEngineDir: !(await exists(engineDir(resolved))),
  };
  await beforeChange?.(plan);

  await fs.mkdir(resolved, { recursive: true });
  await ensureLayout(resolved);
  // Keep a catalog another engine left here; a fresh datastore gets an empty one.
  if (!(await exists(catalogPath(resolved)))) await writeCatalog(resolved, []);
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "datastore-create:after-layout");

  const ds: Datastore = { id: plan.id, name: req.name, path: resolved, createdAt: nowIso(), hostId: req.hostId ?? null };
  try {
    await ctx.store.tx(async (s) => {
      await checkDatastoreUnique(s, req.name, resolved);
      await s.datastores.insert(ds);
    });
  } catch (err) {
    if (err instanceof StoreConstraintError) throw conflict(`datastore ${err.column ?? "name or path"} already in use`, err.column);
    throw err;
  }
  ctx.log.info({ datastoreId: ds.id, path: ds.path }, "datastore added");
  return measureDatastore(ds);
}

/**
 * Undoes what an interrupted `datastore.create` made when its record was never committed: the
 * engine folder if it made it (only while it holds nothing but its empty layout), then the
 * directory if it made it and it is empty. The user's files are never touched.
 */
export async function undoDatastoreAdd(plan: DatastoreAddPlan): Promise<void> {
  if (plan.madeEngineDir) await removeEngineFolderIfEmpty(plan.path);
  if (plan.madeRoot) await fs.rmdir(plan.path).catch(() => undefined);
}

/** The datastore with this id, measured now; 404 when unknown. */
export async function getDatastore(ctx: OpContext, id: string): Promise<DatastoreStatus> {
  const ds = await ctx.store.datastores.get(id);
  if (!ds) throw notFound("datastore", id, "id");
  return measureDatastore(ds);
}

/** Every datastore, measured now. */
export async function listDatastores(ctx: OpContext): Promise<DatastoreStatus[]> {
  return Promise.all((await ctx.store.datastores.list()).map(measureDatastore));
}

/**
 * Checks that datastore `id` may be forgotten, changing nothing: 404 when unknown, 409 while any
 * template, VM, pool, fleet or disk layer lives on it (the error names them). Answers it.
 */
export async function checkDatastoreRemove(store: Inventory, id: string): Promise<Datastore> {
  const ds = await store.datastores.get(id);
  if (!ds) throw notFound("datastore", id, "id");
  const templates = await store.templates.list({ datastoreId: id });
  if (templates.length > 0) {
    throw conflict(`datastore ${JSON.stringify(ds.name)} still holds templates: ${templates.map((t) => `${t.name} (${t.id})`).join(", ")}`, "id");
  }
  const users = await datastoreUsersProblem(store, id);
  if (users) throw conflict(`datastore ${JSON.stringify(ds.name)} ${users}`, "id");
  const layers = await store.layers.list({ datastoreId: id });
  if (layers.length > 0) {
    throw conflict(`datastore ${JSON.stringify(ds.name)} still holds disk layers: ${layers.map((l) => l.path).join(", ")}`, "id");
  }
  return ds;
}

/**
 * Forgets a datastore (checked as `checkDatastoreRemove`, again inside the transaction that
 * drops the record). `beforeCommit` gets the datastore just before its record goes (a job
 * records it as its intent). The user's directory stays; the engine's own folder goes when it
 * holds nothing else.
 */
export async function removeDatastore(ctx: OpContext, id: string, beforeCommit?: (ds: Datastore) => Promise<void> | void): Promise<void> {
  const ds = await checkDatastoreRemove(ctx.store, id);
  await beforeCommit?.(ds);
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "datastore-delete:after-intent");
  await ctx.store.tx(async (s) => {
    await checkDatastoreRemove(s, id);
    await s.datastores.delete(id);
  });
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "datastore-delete:after-commit");
  // A deferred rewrite still writing could make the folder again once it is removed.
  await settleCatalog(ds.id);
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

/** Removes the engine's `clonefleet/` folder under `root` when it holds only its catalog and empty layout folders. */
export async function removeEngineFolderIfEmpty(root: string): Promise<void> {
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
