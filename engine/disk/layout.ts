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

/** Creates the engine folder and its tmp folder when missing; throws when `root` is not an existing directory. */
export async function ensureLayout(root: string): Promise<void> {
  const abs = path.resolve(root);
  // A missing root is usually an unmounted filesystem; creating it would put disks on the wrong one.
  const st = await fsp.stat(abs);
  if (!st.isDirectory()) throw new Error(`datastore root ${abs} is not a directory`);
  await fsp.mkdir(tmpDir(abs), { recursive: true });
}

/** True when `child` lies strictly below `parent` once both are resolved (no `..` escape); symlinks are not followed and a path is not inside itself. */
export function isInside(parent: string, child: string): boolean {
  return pathIsWithin(parent, child) && path.resolve(parent) !== path.resolve(child);
}
