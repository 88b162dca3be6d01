import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The three files of a test chain: base ← middle ← top. */
export interface TestChain {
  base: string;
  middle: string;
  top: string;
}

/** Writes `pattern` into `[offset, offset+length)` of a qcow2 image through qemu-io (sizes like `4M`). */
export async function writePattern(file: string, pattern: number, offset: string, length: string): Promise<void> {
  await run("qemu-io", ["-f", "qcow2", "-c", `write -P ${pattern} ${offset} ${length}`, file]);
}

/**
 * Builds a three-layer qcow2 chain in `dir` with `qemu-img create -b` and qemu-io writes, each
 * layer holding its own pattern: the base 0x11 over [0, baseMb), the middle 0x22 over
 * [baseMb/2, baseMb/2 + deltaMb), the top 0x33 over [baseMb, baseMb + deltaMb). Backing files
 * are absolute paths.
 */
export async function makeChain(dir: string, opts: { virtualMb?: number; baseMb?: number; deltaMb?: number; prefix?: string } = {}): Promise<TestChain> {
  const virtualMb = opts.virtualMb ?? 32;
  const baseMb = opts.baseMb ?? 8;
  const deltaMb = opts.deltaMb ?? 2;
  const prefix = opts.prefix ?? "";
  await fs.mkdir(dir, { recursive: true });
  const base = path.join(dir, `${prefix}base.qcow2`);
  const middle = path.join(dir, `${prefix}middle.qcow2`);
  const top = path.join(dir, `${prefix}top.qcow2`);
  await run("qemu-img", ["create", "-q", "-f", "qcow2", base, `${virtualMb}M`]);
  await writePattern(base, 0x11, "0", `${baseMb}M`);
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", middle]);
  await writePattern(middle, 0x22, `${baseMb / 2}M`, `${deltaMb}M`);
  await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", middle, "-F", "qcow2", top]);
  await writePattern(top, 0x33, `${baseMb}M`, `${deltaMb}M`);
  return { base, middle, top };
}

/** True when `qemu-img compare` finds the guest-visible content of `a` and `b` identical. */
export async function sameContent(a: string, b: string): Promise<boolean> {
  try {
    await run("qemu-img", ["compare", "-q", a, b]);
    return true;
  } catch {
    return false;
  }
}

export { filesUnder } from "./files";
