/**
 * The accelerator: a setting per host (`auto`, `kvm`, `tcg`) with a per-VM override, and the
 * one actually chosen, which is recorded with the VM. KVM and TCG states cannot be mixed: a
 * state saved under one is restored under the same.
 */
import { closeSync, constants as fsConstants, openSync } from "node:fs";

/** What a host or VM asks for: `auto` = KVM when /dev/kvm opens read-write, else TCG. */
export type AccelSetting = "auto" | "kvm" | "tcg";

/** The accelerator a QEMU process runs with. */
export type Accel = "kvm" | "tcg";

/** The KVM device node. */
export const KVM_DEVICE = "/dev/kvm";

/** The accelerator chosen for a setting, and why (for logs and the VM record). */
export interface AccelChoice {
  accel: Accel;
  setting: AccelSetting;
  reason: string;
}

/** Thrown by `resolveAccel` when `kvm` is asked for but the KVM device cannot be opened; `cause` is the open error. */
export class AccelUnavailableError extends Error {
  constructor(
    readonly device: string,
    options?: { cause?: unknown },
  ) {
    super(`accelerator kvm asked for, but ${device} cannot be opened read-write: ${(options?.cause as Error | undefined)?.message ?? "unknown error"}`, options);
    this.name = "AccelUnavailableError";
  }
}

/** True when `value` is an accelerator setting. */
export function isAccelSetting(value: unknown): value is AccelSetting {
  return value === "auto" || value === "kvm" || value === "tcg";
}

/** Opens the KVM device read-write and closes it again; resolves to null when that works, else to the error. */
export async function probeKvm(device: string = KVM_DEVICE): Promise<Error | null> {
  try {
    // Synchronous on purpose: opening a device node never blocks, and two trips through libuv's
    // thread pool cost milliseconds on a loaded host, on the path of every VM start and clone.
    // O_NONBLOCK keeps a FIFO or other odd file given as the device from stalling the engine.
    closeSync(openSync(device, fsConstants.O_RDWR | fsConstants.O_NONBLOCK));
    return null;
  } catch (err) {
    return err as Error;
  }
}

/**
 * Picks the accelerator for a setting: `tcg` always; `kvm` when the device opens, else throws
 * AccelUnavailableError; `auto` KVM when the device opens, else TCG. Note for callers: on this
 * project's machines KVM is PVM, which runs firmware-only VMs but not a Linux kernel
 * (MACHINE-NOTES.md), so anything that boots Linux asks for `tcg` explicitly.
 */
export async function resolveAccel(setting: AccelSetting, opts: { device?: string } = {}): Promise<AccelChoice> {
  const device = opts.device ?? KVM_DEVICE;
  if (setting === "tcg") return { accel: "tcg", setting, reason: "tcg asked for" };
  const err = await probeKvm(device);
  if (setting === "kvm") {
    if (err) throw new AccelUnavailableError(device, { cause: err });
    return { accel: "kvm", setting, reason: `${device} opens read-write` };
  }
  return err
    ? { accel: "tcg", setting, reason: `${device} cannot be opened (${(err as NodeJS.ErrnoException).code ?? err.message}); falling back to tcg` }
    : { accel: "kvm", setting, reason: `${device} opens read-write` };
}
