import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Builds a small raw disk image holding an ext4 filesystem with a few marker files, from
 * Debian's e2fsprogs alone (no download, no mount, no root needed). Returns the image path.
 */
export async function buildTemplateImage(dir: string, opts: { sizeMb?: number; name?: string } = {}): Promise<string> {
  const root = path.join(dir, "template-root");
  await fs.rm(root, { recursive: true, force: true });
  await fs.mkdir(path.join(root, "etc"), { recursive: true });
  await fs.writeFile(path.join(root, "etc", "clonefleet-release"), `clonefleet template image\nbuilt ${new Date().toISOString()}\n`);
  await fs.writeFile(path.join(root, "hello.txt"), "hello from a clonefleet template\n");
  const image = path.join(dir, opts.name ?? "template.raw");
  await fs.rm(image, { force: true });
  await run("mke2fs", ["-q", "-F", "-t", "ext4", "-L", "cfroot", "-d", root, image, `${opts.sizeMb ?? 64}M`]);
  await fs.rm(root, { recursive: true, force: true });
  return image;
}
