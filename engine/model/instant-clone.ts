/**
 * Instant-clone parent objects (S3) as plain data. A parent is a frozen runtime state made from
 * a running VM: its RAM in a file, its device state saved without that RAM (`x-ignore-shared`),
 * and its disk chain frozen read-only. Children map the RAM file privately (copy-on-write).
 */
import type { RecordState, VmAccel, VmMachine } from "./index";

/** Where a parent's RAM file lives: a tmpfs folder on the engine host, or the datastore beside its disk. */
export type ParentRamLocation = "tmpfs" | "datastore";

/** Every RAM location, in the order users read them. */
export const PARENT_RAM_LOCATIONS: readonly ParentRamLocation[] = ["tmpfs", "datastore"];

/** The tmpfs folder parents' RAM files go to unless the engine is told otherwise. */
export const DEFAULT_PARENT_TMPFS_DIR = "/dev/shm/clonefleet";

/** The most children one instant-clone request may ask for. */
export const MAX_INSTANT_CLONES_PER_REQUEST = 256;

/** The most pre-started children a parent may ask each host to keep. */
export const MAX_WARM_CHILDREN = 64;

/** How many children of one request start at the same time unless asked otherwise. */
export const DEFAULT_INSTANT_CLONE_CONCURRENCY = 8;

/**
 * A static, non-executable instant-clone parent. `diskLayerId` is the frozen top layer (owned
 * by the parent, in its own folder); the layers below it keep their owners. The machine facts
 * are what a child must match to load the device state.
 */
export interface InstantCloneParent {
  id: string;
  name: string;
  /** The VM it was captured from (that VM may since have been deleted). */
  sourceVmId: string;
  datastoreId: string;
  /** The frozen top layer of the parent's disk chain. */
  diskLayerId: string;
  /** Absolute path of the guest RAM file children map with `share=off`. */
  ramPath: string;
  ramLocation: ParentRamLocation;
  /** Absolute path of the device state saved with `x-ignore-shared` (RAM left out). */
  deviceStatePath: string;
  /** Guest RAM size in bytes (the RAM file's length). */
  memoryBytes: number;
  machine: VmMachine;
  /** QEMU machine type the state was saved from (e.g. `q35`). */
  machineType: string;
  accel: VmAccel;
  /** QEMU version that saved the state; children run on the same. */
  qemuVersion: string;
  /** `drifted` when its RAM file, device state or frozen layer vanished. */
  state: RecordState;
  /** Children each host keeps pre-started for this parent (QEMU up, the parent's state loaded, paused); 0 for none. */
  warmCount: number;
  createdAt: string;
}
