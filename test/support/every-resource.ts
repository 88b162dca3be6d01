import * as path from "node:path";
import type { ClonefleetClient, InstantCloneResultWire, JobWire, ParentWire, ReplicaWire, SnapshotWire, VmWire } from "../../engine/client";
import { createVm, vmFixture } from "./vms";

/** The ids of one object of every kind the Terraform provider and the Pulumi package manage. */
export interface EveryResource {
  datastore: string;
  /** A second datastore, the replica's target. */
  otherDatastore: string;
  template: string;
  replica: string;
  pool: string;
  fleet: string;
  /** A clone of the template (a full copy). */
  vm: string;
  /** A fork of the stopped `vm`. */
  fork: string;
  snapshot: string;
  /** An instant-clone parent captured from a running VM (started again afterwards). */
  parent: string;
  /** The parent's source VM, running. */
  parentSource: string;
  /** An instant clone of `parent`, running. */
  instantClone: string;
}

async function done<T>(client: ClonefleetClient, job: JobWire): Promise<T> {
  return (await client.waitJob(job.id, { timeoutMs: 120_000 })).result as T;
}

/**
 * Makes one object of every resource type through the engine API (as someone would before
 * importing them), on an engine that runs QEMU (TCG is enough: the VMs are firmware-only).
 * The caller stops the engine and kills its VMs (killAllVms) afterwards.
 */
export async function makeEveryResource(client: ClonefleetClient, dir: string): Promise<EveryResource> {
  const fx = await vmFixture(client, dir);
  const other = await client.datastores.create({ name: "other", path: path.join(dir, "other") });
  const replica = await done<ReplicaWire>(client, await client.replicas.create({ template_id: fx.templateId, target_datastore_id: other.id }));
  const pool = await client.pools.create({ template_id: fx.templateId, datastore_id: fx.datastoreId, size: 1 });
  await client.waitPoolReady(pool.id, { timeoutMs: 120_000 });
  const fleet = await client.fleets.create({ template_id: fx.templateId, size: 1, name_prefix: "web", datastore_ids: [fx.datastoreId], clone_mode: "full", power_state: "stopped" });
  await client.waitJob(fleet.id, { timeoutMs: 120_000 });
  const fleetId = (await client.fleets.list())[0].id;
  const vm = await createVm(client, "plain", fx.templateId);
  const fork = await done<VmWire>(client, await client.vms.fork(vm.id, { name: "plain-fork" }));
  const snapshot = await done<SnapshotWire>(client, await client.snapshots.create(vm.id, { name: "nightly" }));
  const source = await client.vms.start((await createVm(client, "app", fx.templateId)).id);
  const parent = await done<ParentWire>(client, await client.parents.create({ source_vm_id: source.id, name: "app-base", warm_count: 0 }));
  await client.vms.start(source.id);
  const clones = await done<InstantCloneResultWire>(client, await client.parents.clone(parent.id, { names: ["app-clone"] }));
  return {
    datastore: fx.datastoreId,
    otherDatastore: other.id,
    template: fx.templateId,
    replica: replica.id,
    pool: pool.id,
    fleet: fleetId,
    vm: vm.id,
    fork: fork.id,
    snapshot: snapshot.id,
    parent: parent.id,
    parentSource: source.id,
    instantClone: clones.children[0].id,
  };
}
