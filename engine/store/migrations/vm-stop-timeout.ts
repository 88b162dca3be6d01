import type { Migration } from "./index";

/**
 * A VM's own stop timeout: how long a stop waits for the guest to power off (ACPI) before QEMU
 * quits. Null keeps the engine's default; firmware-only VMs that ignore ACPI set it low.
 */
export const vmStopTimeout: Migration = {
  version: 8,
  name: "vm-stop-timeout",
  up: `ALTER TABLE vms ADD COLUMN stop_timeout_seconds INTEGER;`,
};
