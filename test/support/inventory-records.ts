import type { Datastore, DiskLayer, Job, Template, Vm } from "../../engine/model";

/**
 * Inventory records for tests and benchmarks that talk to a store directly: every field set,
 * ids that refer to each other (datastore ds-1, template tpl-1 on layer layer-t); override what
 * a case is about.
 */
export const T0 = "2026-01-01T00:00:00.000Z";

export const datastoreRecord = (over: Partial<Datastore> = {}): Datastore => ({ id: "ds-1", name: "one", path: "/srv/ds1", createdAt: T0, hostId: null, ...over });

export const layerRecord = (over: Partial<DiskLayer> = {}): DiskLayer => ({
  id: "layer-t",
  datastoreId: "ds-1",
  path: "/srv/ds1/t.qcow2",
  format: "qcow2",
  virtualSizeBytes: 10 * 1024 ** 3,
  contentId: "ab".repeat(16),
  parentContentId: null,
  backingPath: null,
  ownerKind: "template",
  ownerId: "tpl-1",
  state: "ready",
  createdAt: T0,
  ...over,
});

export const templateRecord = (over: Partial<Template> = {}): Template => ({
  id: "tpl-1",
  name: "base",
  datastoreId: "ds-1",
  diskLayerId: "layer-t",
  memoryMb: 256,
  vcpus: 1,
  sourcePath: "/images/base.raw",
  kernelSource: null,
  initrdSource: null,
  kernel: null,
  initrd: null,
  cmdline: null,
  state: "ready",
  createdAt: T0,
  ...over,
});

export const vmRecord = (over: Partial<Vm> = {}): Vm => ({
  id: "vm-1",
  name: "web-1",
  templateId: "tpl-1",
  datastoreId: "ds-1",
  diskLayerId: "layer-v",
  homeDir: "/srv/ds1/vms/vm-1",
  provisionedBy: "pool",
  cloneMode: "pool",
  fleetId: null,
  powerState: "stopped",
  state: "ready",
  createdAt: T0,
  accel: null,
  accelOverride: null,
  pid: null,
  stateDir: null,
  forkedFrom: null,
  stunMs: null,
  crashed: false,
  machine: null,
  stopTimeoutSeconds: null,
  instantCloneOf: null,
  hostId: "local",
  migrationNotifyTimeoutSeconds: 0,
  migrationOnMissingAck: "proceed",
  haRestart: false,
  ...over,
});

export const jobRecord = (over: Partial<Job> = {}): Job => ({
  id: "job-1",
  kind: "vm.start",
  state: "queued",
  progress: { unit: "steps", done: 0, total: 1 } as Job["progress"],
  idempotencyKey: null,
  request: {},
  intent: null,
  result: null,
  error: null,
  targetId: null,
  cancelRequested: false,
  createdAt: T0,
  startedAt: null,
  finishedAt: null,
  hostId: "local",
  ...over,
});
