import { promises as fs } from "node:fs";
import * as path from "node:path";
import {
  check,
  convert,
  copyRegularFile,
  NotARegularFileError,
  requireRegularFile,
  ensureLayout,
  imageInfo,
  newContentId,
  NotADiskImageError,
  probeImage,
  templateDir,
  templateDiskPath,
  tmpDir,
  type ProbeResult,
  engineDir,
  removeOwnedTree,
} from "../disk";
import { conflict, EngineError, internal, invalidField, isEngineError, isNoSpaceError, noSpace, notFound } from "../errors";
import {
  absolutePathProblem,
  cmdlineProblem,
  intRangeProblem,
  JOB_KINDS,
  MEMORY_MB_RANGE,
  nameProblem,
  newId,
  nowIso,
  pathIsWithin,
  VCPUS_RANGE,
  type DiskLayer,
  type Template,
} from "../model";
import type { Inventory } from "../store";
import { syncCatalog } from "./catalog-sync";
import { templateUsersProblem } from "./clone-users";
import { removeFromDatastore } from "./datastore-removal";
import { throwIfCancelled, type OpContext } from "./context";
import { faultHold } from "./fault-hold";

export interface ImportTemplateRequest {
  name: string;
  datastoreId: string;
  sourcePath: string;
  memoryMb: number;
  vcpus: number;
  kernel?: string | null;
  initrd?: string | null;
  cmdline?: string | null;
}

/** A template with the facts of its disk. */
export interface TemplateView extends Template {
  diskPath: string;
  contentId: string;
  virtualSizeBytes: number;
}

/** The ids and files an import is about to create, recorded before any file is touched. */
interface ImportIntent {
  templateId: string;
  layerId: string;
  datastoreId: string;
  tmpPath: string;
  finalDir: string;
  finalPath: string;
}

/**
 * Checks an import request against the inventory and the source file, touching nothing.
 * Throws a 4xx EngineError naming the first bad field.
 */
export async function validateTemplateImport(store: Inventory, req: ImportTemplateRequest): Promise<void> {
  const nameIssue = nameProblem(req.name);
  if (nameIssue) throw invalidField("name", nameIssue);
  const memIssue = intRangeProblem(req.memoryMb, MEMORY_MB_RANGE);
  if (memIssue) throw invalidField("memory_mb", memIssue);
  const cpuIssue = intRangeProblem(req.vcpus, VCPUS_RANGE);
  if (cpuIssue) throw invalidField("vcpus", cpuIssue);
  const cmdlineIssue = req.cmdline != null ? cmdlineProblem(req.cmdline) : null;
  if (cmdlineIssue) throw invalidField("cmdline", cmdlineIssue);
  if (req.cmdline != null && !req.kernel) throw invalidField("cmdline", "needs kernel: a command line is only used for direct kernel boot");
  if (req.initrd != null && !req.kernel) throw invalidField("initrd", "needs kernel: an initrd is only used for direct kernel boot");
  const ds = await store.datastores.get(req.datastoreId);
  if (!ds) throw notFound("datastore", req.datastoreId, "datastore_id");
  await admitTemplateName(store, req);

  await requireFile("source_path", req.sourcePath);
  if (pathIsWithin(path.join(ds.path, "clonefleet"), req.sourcePath)) {
    throw invalidField("source_path", "must not be a file inside the engine's own folder of a datastore");
  }
  await probeSource(req.sourcePath);
  if (req.kernel != null) await requireFile("kernel", req.kernel);
  if (req.initrd != null) await requireFile("initrd", req.initrd);
}

/** Refuses a name that a template has, or that a queued or running import will take. */
export async function admitTemplateName(store: Inventory, req: ImportTemplateRequest): Promise<void> {
  const existing = await store.templates.findByName(req.name);
  if (existing) throw conflict(`a template named ${JSON.stringify(req.name)} already exists (${existing.id})`, "name");
  const pending = (await store.jobs.list({ states: ["queued", "running"] }))
    .find((j) => j.kind === IMPORT_TEMPLATE_KIND && (j.request as ImportTemplateRequest).name === req.name);
  if (pending) throw conflict(`template ${JSON.stringify(req.name)} is being imported by job ${pending.id}`, "name");
}

export const IMPORT_TEMPLATE_KIND = JOB_KINDS.importTemplate;

/**
 * Imports a disk image as a template: converts it into the datastore as a standalone qcow2
 * under a temporary name, checks it, and moves it into place with an atomic rename before
 * recording it. Kernel and initrd are copied beside it. On failure or cancellation every
 * file it made is removed.
 */
export async function importTemplate(ctx: OpContext, req: ImportTemplateRequest): Promise<TemplateView> {
  const ds = await ctx.store.datastores.get(req.datastoreId);
  if (!ds) throw notFound("datastore", req.datastoreId, "datastore_id");
  const templateId = newId("tpl");
  const intent: ImportIntent = {
    templateId,
    layerId: newId("layer"),
    datastoreId: ds.id,
    tmpPath: path.join(tmpDir(ds.path), `${templateId}.qcow2.part`),
    finalDir: templateDir(ds.path, templateId),
    finalPath: templateDiskPath(ds.path, templateId),
  };
  await ctx.recordIntent(intent);
  try {
    await ensureLayout(ds.path);
    ctx.progress({ unit: "steps", done: 0, total: 100, message: "converting image" });
    // The source may have changed since the request was validated: judge it again just before
    // reading it, convert it as the format judged (a raw file is never re-probed) and never
    // open a backing file its header may have gained since.
    await sourceMustBeRegular("source_path", req.sourcePath);
    const probed = await probeSource(req.sourcePath);
    await convert(req.sourcePath, intent.tmpPath, {
      srcFormat: probed.format,
      ignoreBacking: true,
      dstFormat: "qcow2",
      signal: ctx.signal,
      rateLimitBytesPerSec: ctx.settings.copyRateLimitBytesPerSec,
      onProgress: (fraction) => ctx.progress({ done: Math.floor(fraction * 90), message: "converting image" }),
    }).catch((err) => {
      if (isEngineError(err) || ctx.signal.aborted) throw err;
      throw isNoSpaceError(err) ? noSpace(`converting the source image into datastore ${ds.name}`, err) : internal("converting the source image", err);
    });
    throwIfCancelled(ctx);
    ctx.progress({ done: 92, message: "checking image" });
    const checked = await check(intent.tmpPath);
    if (!checked.ok) throw internal(`qemu-img check found problems in the converted image (${checked.corruptions} corruptions, ${checked.leaks} leaks)`);
    const info = await imageInfo(intent.tmpPath);

    await fs.mkdir(intent.finalDir, { recursive: true });
    const kernel = req.kernel ? await copyBootFile("kernel", req.kernel, path.join(intent.finalDir, "kernel"), ctx) : null;
    const initrd = req.initrd ? await copyBootFile("initrd", req.initrd, path.join(intent.finalDir, "initrd"), ctx) : null;
    throwIfCancelled(ctx);
    await fs.rename(intent.tmpPath, intent.finalPath);

    const now = nowIso();
    const layer: DiskLayer = {
      id: intent.layerId,
      datastoreId: ds.id,
      path: intent.finalPath,
      format: "qcow2",
      virtualSizeBytes: info.virtualSizeBytes,
      contentId: newContentId(),
      parentContentId: null,
      backingPath: null,
      ownerKind: "template",
      ownerId: templateId,
      state: "ready",
      createdAt: now,
    };
    const template: Template = {
      id: templateId,
      name: req.name,
      datastoreId: ds.id,
      diskLayerId: layer.id,
      memoryMb: req.memoryMb,
      vcpus: req.vcpus,
      sourcePath: req.sourcePath,
      kernelSource: req.kernel ?? null,
      initrdSource: req.initrd ?? null,
      kernel,
      initrd,
      cmdline: req.cmdline ?? null,
      state: "ready",
      createdAt: now,
    };
    await ctx.store.tx(async (s) => {
      if (await s.templates.findByName(req.name)) throw conflict(`a template named ${JSON.stringify(req.name)} already exists`, "name");
      await s.layers.insert(layer);
      await s.templates.insert(template);
    });
    await syncCatalog(ctx.store, ds.id);
    ctx.progress({ done: 100, message: "imported" });
    ctx.log.info({ templateId, path: layer.path }, "template imported");
    return viewOf(template, layer);
  } catch (err) {
    await removeImportFiles(ctx.store, intent);
    if (!isEngineError(err) && !ctx.signal.aborted && isNoSpaceError(err)) throw noSpace(`importing template ${req.name} into datastore ${ds.name}`, err);
    throw err;
  }
}

/** After a crash: an import whose records were committed is finished; anything else is undone. */
export async function recoverTemplateImport(ctx: OpContext, intent: unknown): Promise<{ finished: TemplateView | null }> {
  const i = intent as ImportIntent | null;
  if (!i) return { finished: null };
  const template = await ctx.store.templates.get(i.templateId);
  if (template) {
    await fs.rm(i.tmpPath, { force: true });
    await syncCatalog(ctx.store, template.datastoreId);
    return { finished: await getTemplateView(ctx.store, template.id) };
  }
  await removeImportFiles(ctx.store, i);
  return { finished: null };
}

/** The template with this id and its disk facts; 404 when unknown. */
export async function getTemplateView(store: Inventory, id: string): Promise<TemplateView> {
  const t = await store.templates.get(id);
  if (!t) throw notFound("template", id, "id");
  const layer = await store.layers.get(t.diskLayerId);
  if (!layer) throw internal(`template ${id} has no disk layer record`);
  return viewOf(t, layer);
}

/**
 * Marks templates whose disk file vanished as drifted (records are never dropped), so that a
 * read reports what is on disk now rather than at the last engine start. Returns the views
 * as refreshed.
 */
export async function refreshTemplateViews(store: Inventory, views: TemplateView[]): Promise<TemplateView[]> {
  const out: TemplateView[] = [];
  const touched = new Set<string>();
  for (const v of views) {
    const present = await fs.stat(v.diskPath).then(
      (st) => st.isFile(),
      () => false,
    );
    if (!present && v.state === "ready") {
      await store.tx(async (s) => {
        await s.layers.update(v.diskLayerId, { state: "drifted" });
        await s.templates.setState(v.id, "drifted");
      });
      touched.add(v.datastoreId);
      out.push({ ...v, state: "drifted" });
    } else {
      out.push(v);
    }
  }
  for (const dsId of touched) await syncCatalog(store, dsId);
  return out;
}

/** Every template, optionally those of one datastore. */
export async function listTemplateViews(store: Inventory, filter?: { datastoreId?: string }): Promise<TemplateView[]> {
  const views: TemplateView[] = [];
  for (const t of await store.templates.list(filter)) {
    const layer = await store.layers.get(t.diskLayerId);
    if (layer) views.push(viewOf(t, layer));
  }
  return views;
}

/**
 * Deletes a template: its records first (so nothing hands it out), then its folder.
 * Refused while other disk layers are backed by its disk.
 */
export async function deleteTemplate(ctx: OpContext, id: string, beforeCommit?: (files: TemplateFiles) => Promise<void> | void): Promise<void> {
  const view = await checkTemplateDelete(ctx.store, id);
  const files: TemplateFiles = { templateId: id, datastoreId: view.datastoreId };
  await beforeCommit?.(files);
  await ctx.store.tx(async (s) => {
    await s.templates.delete(id);
    await s.layers.delete(view.diskLayerId);
  });
  await faultHold(ctx, "CLONEFLEET_FAULT_HOLD", "template-delete:after-commit");
  await removeTemplateFiles(ctx, files);
  ctx.log.info({ templateId: id }, "template deleted");
}

/** Checks that template `id` may be deleted: 404 when unknown, 409 while VMs, pools or fleets use it or other disks rest on it. Changes nothing. */
export async function checkTemplateDelete(store: Inventory, id: string): Promise<TemplateView> {
  const view = await getTemplateView(store, id);
  const users = await templateUsersProblem(store, id);
  if (users) throw conflict(`template ${JSON.stringify(view.name)} ${users}`, "id");
  const dependants = (await store.layers.list()).filter((l) => l.backingPath === view.diskPath);
  if (dependants.length > 0) {
    throw conflict(`template ${JSON.stringify(view.name)} backs other disks: ${dependants.map((l) => l.path).join(", ")}`, "id");
  }
  return view;
}

/** Where a deleted template's files lie: its folder on its datastore. */
export interface TemplateFiles {
  templateId: string;
  datastoreId: string;
}

/** Removes a template's folder (nothing when it is gone already) and syncs its datastore's catalog. */
export async function removeTemplateFiles(ctx: OpContext, files: TemplateFiles): Promise<void> {
  const ds = await ctx.store.datastores.get(files.datastoreId);
  if (!ds) return;
  await removeOwnedTree(engineDir(ds.path), templateDir(ds.path, files.templateId));
  await syncCatalog(ctx.store, ds.id);
}

function viewOf(t: Template, layer: DiskLayer): TemplateView {
  return { ...t, diskPath: layer.path, contentId: layer.contentId, virtualSizeBytes: layer.virtualSizeBytes };
}

async function removeImportFiles(store: Inventory, i: ImportIntent): Promise<void> {
  await fs.rm(i.tmpPath, { force: true });
  await removeFromDatastore(store, i.finalDir);
}

async function copyBootFile(field: string, src: string, dst: string, ctx: OpContext): Promise<string> {
  throwIfCancelled(ctx);
  await copyRegularFile(src, dst).catch((err: unknown) => {
    throw err instanceof NotARegularFileError ? invalidField(field, err.message) : err;
  });
  return dst;
}

/** Refuses a source that is not a regular file now (it may have been swapped since the request), without blocking on a FIFO. */
async function sourceMustBeRegular(field: string, p: string): Promise<void> {
  await requireRegularFile(p).catch((err: unknown) => {
    if (err instanceof NotARegularFileError) throw invalidField(field, err.message);
    throw invalidField(field, `cannot read ${p}: ${(err as Error).message}`);
  });
}

/** Probes a source image; throws 400 naming `source_path` when it is not a standalone disk image clonefleet accepts. */
async function probeSource(sourcePath: string): Promise<ProbeResult> {
  try {
    return await probeImage(sourcePath);
  } catch (err) {
    if (err instanceof NotADiskImageError) throw invalidField("source_path", err.message);
    throw invalidField("source_path", `cannot read ${sourcePath} as a disk image: ${(err as Error).message}`);
  }
}

async function requireFile(field: string, p: string): Promise<void> {
  const issue = absolutePathProblem(p);
  if (issue) throw invalidField(field, issue);
  const st = await fs.stat(p).catch((err: NodeJS.ErrnoException) => {
    throw new EngineError("CF_INVALID_FIELD", 400, `${field}: cannot read ${p}: ${err.code === "ENOENT" ? "no such file" : err.message}`, field);
  });
  if (!st.isFile()) throw invalidField(field, `${p} is not a regular file`);
}
