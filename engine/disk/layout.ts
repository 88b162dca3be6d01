import { pathIsWithin } from "../model";
import { promises as fsp } from "node:fs";
import * as path from "node:path";

/** The engine's own folder inside a datastore root; everything else under the root belongs to the user. */
export function engineDir(root: string): string {
  return path.join(path.resolve(root), "clonefleet");
}

/** The folder for half-made files, which are renamed into place when complete (same filesystem as the rest). */
export function tmpDir(root: string): string {
  return path.join(engineDir(root), "tmp");
}

/** The folder of one template on a datastore; throws Error when `templateId` could name anything but one child folder. */
export function templateDir(root: string, templateId: string): string {
  if (templateId === "" || templateId === "." || templateId === ".." || /[/\\\0]/.test(templateId)) {
    throw new Error(`invalid template id ${JSON.stringify(templateId)}: it must be one path segment`);
  }
  return path.join(engineDir(root), "templates", templateId);
}

/** The base disk of one template on a datastore; throws like `templateDir`. */
export function templateDiskPath(root: string, templateId: string): string {
  return path.join(templateDir(root, templateId), "disk.qcow2");
}

/** The folder of one replica's own layers on its target datastore; throws Error when `replicaId` could name anything but one child folder. */
export function replicaDir(root: string, replicaId: string): string {
  if (replicaId === "" || replicaId === "." || replicaId === ".." || /[/\\\0]/.test(replicaId)) {
    throw new Error(`invalid replica id ${JSON.stringify(replicaId)}: it must be one path segment`);
  }
  return path.join(engineDir(root), "replicas", replicaId);
}

/** The file of a replica's copied layer: `<n>-<contentId>.qcow2`, `n` counting from the top (0); throws like `replicaDir`, or for a bad position or content ID. */
export function replicaLayerPath(root: string, replicaId: string, position: number, contentId: string): string {
  if (!Number.isSafeInteger(position) || position < 0) throw new Error(`invalid layer position ${position}`);
  if (!/^[0-9a-f]{32}$/.test(contentId)) throw new Error(`invalid content ID ${JSON.stringify(contentId)}`);
  return path.join(replicaDir(root, replicaId), `${position}-${contentId}.qcow2`);
}

/** Creates the engine folder and its tmp folder when missing; throws when `root` is not an existing directory. */
export async function ensureLayout(root: string): Promise<void> {
  const abs = path.resolve(root);
  // A missing root is usually an unmounted filesystem; creating it would put disks on the wrong one.
  const st = await fsp.stat(abs);
  if (!st.isDirectory()) throw new Error(`datastore root ${abs} is not a directory`);
  await fsp.mkdir(tmpDir(abs), { recursive: true, mode: 0o750 });
}

/** True when `child` lies strictly below `parent` once both are resolved (no `..` escape); symlinks are not followed and a path is not inside itself. */
export function isInside(parent: string, child: string): boolean {
  return pathIsWithin(parent, child) && path.resolve(parent) !== path.resolve(child);
}

function oneSegment(what: string, id: string): string {
  if (id === "" || id === "." || id === ".." || /[/\\\0]/.test(id)) {
    throw new Error(`invalid ${what} id ${JSON.stringify(id)}: it must be one path segment`);
  }
  return id;
}

/** The folder of one template's disk pool on a datastore; throws Error when `templateId` could name anything but one child folder. */
export function poolDir(root: string, templateId: string): string {
  return path.join(engineDir(root), "pools", oneSegment("template", templateId));
}

/** The file of one ready pool copy, named by its disk layer id; throws like `poolDir`. */
export function poolCopyPath(root: string, templateId: string, layerId: string): string {
  return path.join(poolDir(root, templateId), `${oneSegment("layer", layerId)}.qcow2`);
}

/** The home folder of one VM on a datastore (its disk and, later, its runtime files); throws Error when `vmId` could name anything but one child folder. */
export function vmDir(root: string, vmId: string): string {
  return path.join(engineDir(root), "vms", oneSegment("vm", vmId));
}

/** The disk of one VM on a datastore; throws like `vmDir`. */
export function vmDiskPath(root: string, vmId: string): string {
  return path.join(vmDir(root, vmId), "disk.qcow2");
}

/** The temporary name a copy is made under before it is renamed into place: `<tmp>/<name>.qcow2.part`; throws for a name that is not one segment. */
export function partPath(root: string, name: string): string {
  return path.join(tmpDir(root), `${oneSegment("temporary file", name)}.qcow2.part`);
}
