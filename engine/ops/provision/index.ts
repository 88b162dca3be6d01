/** Clone provisioning: one small interface, three ways, composed in `provisionerFor` alone. */
import type { CloneMode } from "../../model";
import { FullCopyProvisioner } from "./full-copy";
import { LinkedProvisioner } from "./linked";
import { PoolProvisioner } from "./pool";
import type { DiskProvisioner } from "./provisioner";

export * from "./provisioner";
export { FullCopyProvisioner, FULL_COPY_CONCURRENCY } from "./full-copy";
export { LinkedProvisioner } from "./linked";
export { PoolProvisioner } from "./pool";

/** The provisioner for a clone mode: `pool` is a pool in front of full copies, `full` copies always, `linked` makes overlays. */
export function provisionerFor(mode: CloneMode): DiskProvisioner {
  switch (mode) {
    case "pool":
      return new PoolProvisioner(new FullCopyProvisioner());
    case "full":
      return new FullCopyProvisioner();
    case "linked":
      return new LinkedProvisioner();
  }
}
