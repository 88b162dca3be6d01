/**
 * The CDKTF example's stack: the same resources as examples/terraform, through the generated
 * bindings and the TemplateLibrary, CloneFleet and InstantClonePool constructs.
 */
import { Construct } from "constructs";
import { TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { CloneFleet, dataClonefleetDiskChain, dataClonefleetHost, datastore, InstantClonePool, provider, replica, snapshot, TemplateLibrary, vm } from "../../provider/cdktf";

/** Where the example keeps its datastore and which image it imports. */
export interface ExampleSettings {
  datastorePath: string;
  imagePath: string;
  /** The second datastore, which holds the template's replica; default `<datastorePath>-replica`. */
  replicaDatastorePath?: string;
}

/**
 * A datastore, a template imported into it, the template's disk chain, a replica of it on a
 * second datastore, a pool of the template on each datastore feeding a fleet of 4, one
 * linked clone, a running VM (on host local, with a migration policy) with a fork, an
 * instant-clone parent of it with two instant clones, and a snapshot.
 */
export class ClonefleetExample extends TerraformStack {
  constructor(scope: Construct, id: string, settings: ExampleSettings) {
    super(scope, id);
    const endpoint = new TerraformVariable(this, "endpoint", { type: "string", default: "http://127.0.0.1:7420" });
    const token = new TerraformVariable(this, "token", { type: "string", sensitive: true });
    new provider.ClonefleetProvider(this, "clonefleet", { endpoint: endpoint.stringValue, token: token.stringValue });

    const library = new TemplateLibrary(this, "library", {
      datastoreName: "local",
      datastorePath: settings.datastorePath,
      images: { tiny: { sourcePath: settings.imagePath, memoryMb: 256, vcpus: 1 } },
    });
    const chain = new dataClonefleetDiskChain.DataClonefleetDiskChain(this, "tiny-chain", { path: library.templates.tiny.diskPath });

    const replicas = new datastore.Datastore(this, "replicas", { name: "replicas", path: settings.replicaDatastorePath ?? `${settings.datastorePath}-replica` });
    const tinyReplica = new replica.Replica(this, "tiny-replica", {
      templateId: library.templates.tiny.id,
      targetDatastoreId: replicas.id,
      timeouts: { create: "20m", update: "20m" },
    });

    // A pool of two ready copies on each datastore, and a fleet of four over both, made once the pools are full.
    const web = new CloneFleet(this, "web", {
      templateId: library.templates.tiny.id,
      datastores: [library.datastore, replicas],
      poolSize: 2,
      fleetSize: 4,
      namePrefix: "web",
    });
    const scratch = new vm.Vm(this, "scratch", { name: "scratch", templateId: library.templates.tiny.id, cloneMode: "linked" });
    // The first engine's host. A VM powered on there, and a fork of it (power_state changes in place; a VM whose QEMU died is
    // powered on again). A change of hostId live-migrates it in place; its guest gets 10 s to acknowledge the notice, else the
    // migration is aborted.
    const localHost = new dataClonefleetHost.DataClonefleetHost(this, "local-host", { id: "local" });
    const app = new vm.Vm(this, "app", {
      name: "app",
      templateId: library.templates.tiny.id,
      cloneMode: "full",
      powerState: "running",
      hostId: localHost.id,
      migrationNotifyTimeoutSeconds: 10,
      migrationOnMissingAck: "abort",
    });
    const appFork = new vm.Vm(this, "app_fork", { name: "app-fork", forkOf: app.id, powerState: "running" });
    // The running app captured as an instant-clone parent and two instant clones of it (no boot, the parent's RAM
    // shared copy-on-write); captured after the fork, as a VM is forked or captured one at a time. warmCount keeps one
    // child pre-started (QEMU up, the parent's state loaded, paused), so a scale-up only resumes it.
    const appClones = new InstantClonePool(this, "app_clones", { source: app, parentName: "app-base", cloneCount: 2, namePrefix: "app-clone", warmCount: 1, dependsOn: [appFork] });
    // A snapshot of the running app, taken after the fork and the capture (a VM with snapshots cannot be captured);
    // destroying it merges its overlay back live, and one consolidated outside is taken again by the next deploy.
    const appSnapshot = new snapshot.Snapshot(this, "app_snapshot", {
      vmId: app.id,
      name: "nightly",
      timeouts: { delete: "30m" },
      dependsOn: [appFork, appClones.parent],
    });

    new TerraformOutput(this, "template_content_id", { value: library.templates.tiny.contentId });
    new TerraformOutput(this, "template_chain_depth", { value: chain.depth });
    new TerraformOutput(this, "replica_disk_path", { value: tinyReplica.diskPath });
    new TerraformOutput(this, "replica_copied_bytes", { value: tinyReplica.copiedBytes });
    new TerraformOutput(this, "fleet_vms", { value: web.fleet.vms });
    new TerraformOutput(this, "scratch_disk_chain", { value: scratch.diskChain });
    new TerraformOutput(this, "app_fork_forked_from", { value: appFork.forkedFrom });
    new TerraformOutput(this, "app_host_id", { value: app.hostId });
    new TerraformOutput(this, "local_host_status", { value: localHost.status });
    new TerraformOutput(this, "app_parent_ram_path", { value: appClones.parent.ramPath });
    new TerraformOutput(this, "app_clone_ids", { value: appClones.cloneIds });
    new TerraformOutput(this, "app_snapshot_frozen_disk_path", { value: appSnapshot.frozenDiskPath });
  }
}
