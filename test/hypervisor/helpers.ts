import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { QemuProcess, pollUntil, probeVm, type StartOptions, type VmSpec } from "../../engine/hypervisor";

const run = promisify(execFile);

/** A fresh temp folder with a short path (unix socket paths are limited to 107 bytes). */
export function tempDir(prefix = "cf-hv-"): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A firmware-only VM under TCG: no kernel, no disk; the firmware idles, a real running VM. */
export function firmwareSpec(stateDir: string, over: Partial<VmSpec> = {}): VmSpec {
  return { name: path.basename(stateDir), stateDir, accel: "tcg", memoryMb: 64, vcpus: 1, ...over };
}

/**
 * Remembers every QEMU a test starts and every state folder it uses, and kills them all in
 * `cleanup` (afterEach), also when the test failed halfway; the temp folders go too.
 */
export class VmTracker {
  private readonly procs = new Set<QemuProcess>();
  private readonly dirs = new Set<string>();

  /** Starts a VM and tracks it. */
  async start(spec: VmSpec, opts?: StartOptions): Promise<QemuProcess> {
    this.dirs.add(spec.stateDir);
    const p = await QemuProcess.start(spec, opts);
    this.procs.add(p);
    return p;
  }

  /** Tracks a process made some other way (e.g. reattach). */
  track(p: QemuProcess): QemuProcess {
    this.procs.add(p);
    this.dirs.add(p.stateDir);
    return p;
  }

  /** Tracks a folder to remove (and whose QEMU to kill) at cleanup. */
  dir(d: string): string {
    this.dirs.add(d);
    return d;
  }

  /** Kills every tracked QEMU (and any QEMU still running for a tracked folder), then removes the folders. */
  async cleanup(): Promise<void> {
    for (const p of this.procs) await p.kill().catch(() => undefined);
    for (const d of this.dirs) {
      const probe = await probeVm(d).catch(() => null);
      if (probe?.state === "running") {
        try {
          process.kill(-probe.pid, "SIGKILL");
        } catch {
          // already gone
        }
        await pollUntil("tracked QEMU gone", async () => ((await probeVm(d)).state === "running" ? undefined : true), { timeoutMs: 10000 }).catch(() => undefined);
      }
    }
    for (const d of this.dirs) await fsp.rm(d, { recursive: true, force: true });
    this.procs.clear();
    this.dirs.clear();
  }
}

/** Runs qemu-io on an image (not in use by a VM) and returns its output; throws on failure. */
export async function qemuIo(image: string, command: string, format = "qcow2"): Promise<string> {
  const { stdout } = await run("qemu-io", ["-f", format, "-c", command, image]);
  return stdout;
}

/** True when `length` bytes at `offset` of the image all hold `pattern` (read through qemu-io). */
export async function imageHasPattern(image: string, pattern: number, offset: number, length: number, format = "qcow2"): Promise<boolean> {
  const out = await qemuIo(image, `read -P ${pattern} ${offset} ${length}`, format).catch((e: { stdout?: string }) => e.stdout ?? "");
  return !/verification failed/i.test(out) && new RegExp(`read ${length}/${length} bytes`).test(out);
}

/** Creates a qcow2 image (optionally on a backing file) with qemu-img. */
export async function createQcow2(file: string, opts: { sizeMb?: number; backing?: string } = {}): Promise<string> {
  const args = ["create", "-q", "-f", "qcow2"];
  if (opts.backing) args.push("-b", opts.backing, "-F", "qcow2");
  args.push(file);
  if (!opts.backing || opts.sizeMb) args.push(`${opts.sizeMb ?? 64}M`);
  await run("qemu-img", args);
  return file;
}

/** Waits until the file contains `text`, up to `timeoutMs`; returns the file's content. */
export function waitForText(file: string, text: string | RegExp, timeoutMs: number): Promise<string> {
  return pollUntil(
    `${String(text)} in ${file}`,
    async () => {
      const content = await fsp.readFile(file, "utf8").catch(() => "");
      return (typeof text === "string" ? content.includes(text) : text.test(content)) ? content : undefined;
    },
    { timeoutMs, intervalMs: 10 },
  );
}
