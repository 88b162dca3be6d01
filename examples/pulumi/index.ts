/**
 * A clonefleet datastore, a template imported into it from an image on the engine host, a
 * replica of the template's disk on a second datastore (copied by content ID), a pool of the
 * template on each datastore feeding a fleet of four (the CloneFleet component), one
 * linked clone, and a running VM (on host local, with a migration policy) with a fork, an
 * instant-clone parent with two instant clones (the InstantClonePool component) and a snapshot.
 * The engine is reached through `clonefleet:endpoint` / `clonefleet:token` (or the
 * CLONEFLEET_ENDPOINT / CLONEFLEET_TOKEN environment variables).
 */
import * as pulumi from "@pulumi/pulumi";
import * as clonefleet from "../../pulumi";

const config = new pulumi.Config();
const imagePath = config.require("imagePath");
const datastorePath = config.get("datastorePath") ?? "/var/tmp/clonefleet-example/store";
const replicaDatastorePath = config.get("replicaDatastorePath") ?? "/var/tmp/clonefleet-example/replicas";

const store = new clonefleet.Datastore("example-store", {
  name: "example",
  path: datastorePath,
});

const base = new clonefleet.Template("example-base", {
  name: "example-base",
  datastoreId: store.id,
  sourcePath: imagePath,
  memoryMb: 256,
  vcpus: 1,
});

const chain = clonefleet.getDiskChainOutput({ path: base.diskPath });

// A layer of the replica removed outside Pulumi shows after `pulumi refresh` as inSync false;
// the next `pulumi up` updates the replica, copying only what is missing.
const replicaStore = new clonefleet.Datastore("example-replica-store", {
  name: "example-replicas",
  path: replicaDatastorePath,
});

const backup = new clonefleet.Replica("example-base-replica", {
  templateId: base.id,
  targetDatastoreId: replicaStore.id,
});

// A pool of two ready copies on each datastore and a fleet of four over both, made once the
// pools are full. After `pulumi refresh`, a pool below its size shows atSize false and a lost
// member membersHealthy false; the next `pulumi up` refills or remakes them.
const web = new clonefleet.CloneFleet("example-web", {
  templateId: base.id,
  datastores: [store, replicaStore],
  poolSize: 2,
  fleetSize: 4,
  namePrefix: "web",
});

const scratch = new clonefleet.Vm("example-scratch", {
  name: "scratch",
  templateId: base.id,
  cloneMode: "linked",
});

// The first engine's host (another engine started on the same state folder with --host-name
// joins as another host).
const localHost = clonefleet.getHostOutput({ id: "local" });

// A VM powered on, and a fork of it: the parent is stunned for a moment and the child starts
// where it was. powerState changes in place; a VM whose QEMU died refreshes as stopped and the
// next `pulumi up --refresh` powers it on again. A change of hostId live-migrates it in place
// (a VM moved outside Pulumi diffs after a refresh, and the update moves it back); its guest
// gets 10 s to acknowledge the notice, else the migration is aborted and it stays.
const app = new clonefleet.Vm("example-app", {
  name: "app",
  templateId: base.id,
  cloneMode: "full",
  powerState: "running",
  hostId: localHost.id,
  migrationNotifyTimeoutSeconds: 10,
  migrationOnMissingAck: "abort",
});

const appFork = new clonefleet.Vm("example-app-fork", {
  name: "app-fork",
  forkOf: app.id,
  powerState: "running",
});

// The running app captured as an instant-clone parent (RAM in a file, device state saved, disk
// frozen) and two instant clones of it, running at once without a boot, sharing the parent's
// RAM copy-on-write. The capture stops the app for a moment and starts it again. Captured after
// the fork: a VM is forked or captured one at a time. A parent whose files vanished, or a clone
// removed outside Pulumi, refreshes as gone and is made again by the next `pulumi up`. warmCount
// keeps one child pre-started (QEMU up, the parent's state loaded, paused), so a scale-up only
// resumes it.
const appClones = new clonefleet.InstantClonePool(
  "example-app-clones",
  {
    source: app,
    parentName: "app-base",
    cloneCount: 2,
    namePrefix: "app-clone",
    warmCount: 1,
  },
  { dependsOn: [appFork] },
);

// A snapshot of the running app: its disk is frozen at this instant (frozenDiskPath, for a
// backup agent to read) while the VM runs on. Deleting it merges the overlay back live. It is
// taken after the fork and the capture (a VM with snapshots cannot be captured). A snapshot
// consolidated outside Pulumi refreshes as gone, and the next `pulumi up` takes it again.
const appSnapshot = new clonefleet.Snapshot(
  "example-app-snapshot",
  {
    vmId: app.id,
    name: "nightly",
  },
  { dependsOn: [appFork, appClones] },
);

export const datastoreId = store.id;
export const templateId = base.id;
export const templateDiskPath = base.diskPath;
export const templateContentId = base.contentId;
export const chainContentIds = chain.apply((c) => c.layers.map((l) => l.contentId));
export const replicaId = backup.id;
export const replicaDiskPath = backup.diskPath;
export const replicaCopiedBytes = backup.copiedBytes;
export const replicaInSync = backup.inSync;
export const poolIds = web.pools.map((p) => p.id);
export const fleetId = web.fleet.id;
export const fleetProvisionedBy = web.vms.apply((vms) => Object.fromEntries(vms.map((m) => [m.name, m.provisionedBy])));
export const scratchId = scratch.id;
export const scratchDiskChain = scratch.diskChain;
export const appId = app.id;
export const appForkForkedFrom = appFork.forkedFrom;
export const appHostId = app.hostId;
export const localHostStatus = localHost.status;
export const appForkDiskChain = appFork.diskChain;
export const appParentId = appClones.parentObject.id;
export const appCloneIds = appClones.cloneIds;
export const appSnapshotId = appSnapshot.id;
export const appSnapshotFrozenDiskPath = appSnapshot.frozenDiskPath;
