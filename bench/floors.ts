/**
 * Raw floors the report sets beside the engine's figures, measured in the same run with the
 * plain tools and no engine: what a rename, a QEMU start and a tmpfs copy cost on this machine
 * right now. The benchmarks measure their own plain alternatives (full copies, offline commits,
 * state saves, the hypervisor layer); these cover the figures that have none.
 */
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const MiB = 1024 * 1024;

export interface RawFloors {
  /** 64 renames inside one folder (what moving 64 pool copies into place costs at least), ms. */
  rename64Ms: number;
  /** `qemu-system-x86_64` from exec to its QMP greeting, paused, firmware-only q35 with 256 MiB, ms (median of 5). */
  qemuStartMs: number;
  /** A copy of a 256 MiB file within /dev/shm (a small guest's RAM), ms (median of 3). */
  tmpfsCopy256MiBMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function rename64(dir: string): Promise<number> {
  const from = path.join(dir, "from");
  const to = path.join(dir, "to");
  await fs.mkdir(from);
  await fs.mkdir(to);
  for (let i = 0; i < 64; i++) await fs.writeFile(path.join(from, `c${i}`), "");
  const t0 = performance.now();
  for (let i = 0; i < 64; i++) await fs.rename(path.join(from, `c${i}`), path.join(to, `c${i}`));
  return performance.now() - t0;
}

/** Exec to QMP greeting of a paused QEMU with no devices of its own; killed at once. */
async function qemuStart(accel: string): Promise<number> {
  const t0 = performance.now();
  const child = spawn("qemu-system-x86_64", ["-machine", `q35,accel=${accel}`, "-m", "256", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio"], { stdio: ["pipe", "pipe", "pipe"] });
  try {
    return await new Promise<number>((resolve, reject) => {
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes('"QMP"')) resolve(performance.now() - t0);
      });
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", reject);
      child.on("exit", (code) => reject(new Error(`qemu-system-x86_64 exited with ${code} before its QMP greeting: ${err.trim()}`)));
    });
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once("exit", r)));
  }
}

async function tmpfsCopy(dir: string): Promise<number> {
  const src = path.join(dir, "ram");
  const dst = path.join(dir, "ram-copy");
  const handle = await fs.open(src, "w");
  try {
    const block = Buffer.alloc(4 * MiB, 0xa5);
    for (let off = 0; off < 256 * MiB; off += block.length) await handle.write(block, 0, block.length, off);
  } finally {
    await handle.close();
  }
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await fs.copyFile(src, dst);
    times.push(performance.now() - t0);
    await fs.rm(dst);
  }
  return median(times);
}

/** Measures every floor; `accel` is QEMU's accelerator name (kvm or tcg). Removes what it made. */
export async function measureFloors(accel: "kvm" | "tcg"): Promise<RawFloors> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "cf-floors-"));
  const shm = await fs.mkdtemp(path.join("/dev/shm", "cf-floors-"));
  try {
    const rename64Ms = await rename64(dir);
    const starts: number[] = [];
    for (let i = 0; i < 5; i++) starts.push(await qemuStart(accel));
    const tmpfsCopy256MiBMs = await tmpfsCopy(shm);
    return { rename64Ms, qemuStartMs: median(starts), tmpfsCopy256MiBMs };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rm(shm, { recursive: true, force: true });
  }
}
