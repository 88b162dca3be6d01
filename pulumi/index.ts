/**
 * The clonefleet Pulumi package: dynamic-provider resources for the engine, with camelCase
 * inputs and outputs, and data-source style lookups.
 */
export { Datastore, datastoreProvider, DATASTORE_REPLACE_KEYS } from "./datastore";
export type { DatastoreArgs, DatastoreInputs, DatastoreOutputs } from "./datastore";
export { Template, templateProvider, TEMPLATE_REPLACE_KEYS } from "./template";
export type { TemplateArgs, TemplateInputs, TemplateOutputs } from "./template";
export { Replica, replicaProvider, REPLICA_REPLACE_KEYS } from "./replica";
export type { ReplicaArgs, ReplicaChainLayer, ReplicaInputs, ReplicaOutputs, ReplicaReusedLayer } from "./replica";
export { DiskPool, diskPoolProvider, DISK_POOL_REPLACE_KEYS } from "./disk-pool";
export type { DiskPoolArgs, DiskPoolInputs, DiskPoolOutputs } from "./disk-pool";
export { Vm, vmProvider, VM_IN_PLACE_KEYS, VM_REPLACE_KEYS } from "./vm";
export type { VmArgs, VmDiskLayer, VmInputs, VmOutputs } from "./vm";
export { Fleet, fleetProvider, FLEET_REPLACE_KEYS } from "./fleet";
export type { FleetArgs, FleetInputs, FleetMember, FleetOutputs } from "./fleet";
export { Snapshot, snapshotProvider, SNAPSHOT_REPLACE_KEYS } from "./snapshot";
export type { SnapshotArgs, SnapshotInputs, SnapshotOutputs } from "./snapshot";
export { InstantCloneParent, instantCloneParentProvider, INSTANT_CLONE_PARENT_REPLACE_KEYS } from "./instant-clone-parent";
export type { InstantCloneParentArgs, InstantCloneParentInputs, InstantCloneParentOutputs } from "./instant-clone-parent";
export { CloneFleet, cloneFleetArgsProblems } from "./clone-fleet";
export { InstantClonePool, instantClonePoolArgsProblems } from "./instant-clone-pool";
export type { InstantClonePoolArgs } from "./instant-clone-pool";
export type { CloneFleetArgs } from "./clone-fleet";
export { getDiskChain, getDiskChainOutput } from "./disk-chain";
export type { DiskChainLayer, GetDiskChainArgs, GetDiskChainResult } from "./disk-chain";
export { getDatastore, getDatastoreOutput } from "./datastore-space";
export type { GetDatastoreArgs, GetDatastoreResult } from "./datastore-space";
export { getHost, getHostOutput } from "./host";
export type { GetHostArgs, GetHostResult } from "./host";
export { resolveConnection, withSecretToken } from "./connection";
export type { ConnectionArgs, ResolvedConnection } from "./connection";
export {
  validateConnection,
  validateDatastoreInputs,
  validateDiskPoolInputs,
  validateFleetInputs,
  validateInstantCloneParentInputs,
  validateReplicaInputs,
  validateSnapshotInputs,
  validateTemplateInputs,
  validateVmInputs,
} from "./validate";
export type { CheckFailure } from "./validate";
export { RUNTIME_MODULE, UNKNOWN_VALUE } from "./provider-kit";
export { DEFAULT_ENDPOINT } from "./provider-runtime";
