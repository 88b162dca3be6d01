/**
 * Pulumi-side input checks, built from the engine's pure rules. They run inside the dynamic
 * provider's `check`, gather every problem and name inputs in camelCase; they never throw.
 */
import {
  absolutePathProblem,
  cmdlineProblem,
  datastorePathProblem,
  DEFAULT_MEMORY_MB,
  DEFAULT_VCPUS,
  FLEET_DATASTORES_MAX,
  FLEET_SIZE_RANGE,
  intRangeProblem,
  MEMORY_MB_RANGE,
  namePrefixProblem,
  nameProblem,
  POOL_SIZE_RANGE,
  VCPUS_RANGE,
} from "../engine/model/rules";
import {
  DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
  DEFAULT_MIGRATION_ON_MISSING_ACK,
  missingAckProblem,
  notifyTimeoutProblem,
} from "../engine/model/migration-rules";
import { MAX_WARM_CHILDREN } from "../engine/model/instant-clone";
import { UNKNOWN_VALUE } from "./provider-kit";

/** One check failure as `dynamic.ResourceProvider.check` returns it. */
export interface CheckFailure {
  property: string;
  reason: string;
}

/** The longest id the engine accepts in a path parameter. */
const ID_MAX_LENGTH = 64;

type Props = Record<string, unknown>;

/** True when the input is set and known, so it can be checked now. */
function known(v: unknown): boolean {
  return v !== undefined && v !== null && v !== UNKNOWN_VALUE;
}

/** Collects the failure for `property` when it is known and `problem` finds something wrong. */
function checkKnown(failures: CheckFailure[], props: Props, property: string, problem: (v: unknown) => string | null): void {
  if (!known(props[property])) return;
  const reason = problem(props[property]);
  if (reason) failures.push({ property, reason });
}

/** Collects a failure when a required input is missing; unknown values count as present. */
function checkRequired(failures: CheckFailure[], props: Props, property: string): boolean {
  if (props[property] === undefined || props[property] === null) {
    failures.push({ property, reason: "is required" });
    return false;
  }
  return true;
}

/** Problems of the connection inputs `endpoint` (an http(s) URL) and `token` (a string). */
export function validateConnection(props: Props): CheckFailure[] {
  const failures: CheckFailure[] = [];
  checkKnown(failures, props, "endpoint", (v) => {
    if (typeof v !== "string") return "must be a string such as http://127.0.0.1:7420";
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      return `must be a URL such as http://127.0.0.1:7420 (got ${JSON.stringify(v)})`;
    }
    return url.protocol === "http:" || url.protocol === "https:" ? null : `must use http or https (got ${url.protocol.replace(/:$/, "")})`;
  });
  checkKnown(failures, props, "token", (v) => (typeof v === "string" ? null : "must be a string"));
  return failures;
}

/** Problems of a Datastore's inputs, all of them, in camelCase. */
export function validateDatastoreInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  if (checkRequired(failures, props, "name")) checkKnown(failures, props, "name", nameProblem);
  if (checkRequired(failures, props, "path")) checkKnown(failures, props, "path", datastorePathProblem);
  return failures;
}

/** Problems of a Template's inputs, all of them, in camelCase (the engine checks the files). */
export function validateTemplateInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  if (checkRequired(failures, props, "name")) checkKnown(failures, props, "name", nameProblem);
  if (checkRequired(failures, props, "datastoreId")) {
    checkKnown(failures, props, "datastoreId", (v) => {
      if (typeof v !== "string") return "must be a string (the id of a Datastore)";
      if (v.length === 0) return "must not be empty";
      return v.length > ID_MAX_LENGTH ? `must be at most ${ID_MAX_LENGTH} characters` : null;
    });
  }
  if (checkRequired(failures, props, "sourcePath")) checkKnown(failures, props, "sourcePath", absolutePathProblem);
  checkKnown(failures, props, "memoryMb", (v) => intRangeProblem(v, MEMORY_MB_RANGE));
  checkKnown(failures, props, "vcpus", (v) => intRangeProblem(v, VCPUS_RANGE));
  checkKnown(failures, props, "kernel", absolutePathProblem);
  checkKnown(failures, props, "initrd", absolutePathProblem);
  checkKnown(failures, props, "cmdline", cmdlineProblem);
  // Without a kernel the engine would refuse these; say so at check time, naming the input.
  const noKernel = props.kernel === undefined || props.kernel === null;
  if (noKernel && known(props.initrd)) failures.push({ property: "initrd", reason: "needs kernel: an initrd is only used for direct kernel boot" });
  if (noKernel && known(props.cmdline)) failures.push({ property: "cmdline", reason: "needs kernel: a command line is only used for direct kernel boot" });
  return failures;
}

/** The Template inputs with the engine's defaults filled in, so that diffs against outputs stay empty. */
export function withTemplateDefaults<T extends Props>(props: T): T {
  return {
    ...props,
    memoryMb: props.memoryMb ?? DEFAULT_MEMORY_MB,
    vcpus: props.vcpus ?? DEFAULT_VCPUS,
  };
}

/** Problems of a Replica's inputs, all of them, in camelCase (the engine checks the files and ids). */
export function validateReplicaInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  const set = (k: string) => props[k] !== undefined && props[k] !== null;
  if (set("sourceDiskPath") && set("templateId")) {
    for (const property of ["sourceDiskPath", "templateId"]) failures.push({ property, reason: "set exactly one of sourceDiskPath and templateId, not both" });
  } else if (!set("sourceDiskPath") && !set("templateId")) {
    failures.push({ property: "sourceDiskPath", reason: "is required unless templateId is given: set exactly one of sourceDiskPath and templateId" });
  }
  checkKnown(failures, props, "sourceDiskPath", absolutePathProblem);
  checkKnown(failures, props, "templateId", idProblem("a Template"));
  if (checkRequired(failures, props, "targetDatastoreId")) checkKnown(failures, props, "targetDatastoreId", idProblem("a Datastore"));
  checkKnown(failures, props, "verify", (v) => (typeof v === "boolean" ? null : "must be true or false"));
  checkKnown(failures, props, "inSync", (v) => {
    if (typeof v !== "boolean") return "must be true or false";
    return v ? null : "is reported by the provider (false while the replica is drifted); leave it unset";
  });
  return failures;
}

/** The Replica inputs with their defaults filled in (`verify` false, `inSync` true), so that diffs against outputs stay empty. */
export function withReplicaDefaults<T extends Props>(props: T): T {
  return { ...props, verify: props.verify ?? false, inSync: props.inSync ?? true };
}

function idProblem(what: string): (v: unknown) => string | null {
  return (v) => {
    if (typeof v !== "string") return `must be a string (the id of ${what})`;
    if (v.length === 0) return "must not be empty";
    return v.length > ID_MAX_LENGTH ? `must be at most ${ID_MAX_LENGTH} characters` : null;
  };
}

const CLONE_MODES = ["pool", "full", "linked"];

function cloneModeProblem(v: unknown): string | null {
  return typeof v === "string" && CLONE_MODES.includes(v) ? null : `must be one of ${CLONE_MODES.join(", ")} (got ${JSON.stringify(v)})`;
}

const POWER_STATES = ["running", "stopped"];
function powerStateProblem(v: unknown): string | null {
  return typeof v === "string" && POWER_STATES.includes(v) ? null : `must be one of ${POWER_STATES.join(", ")} (got ${JSON.stringify(v)})`;
}

function providerReported(what: string): (v: unknown) => string | null {
  return (v) => {
    if (typeof v !== "boolean") return "must be true or false";
    return v ? null : `is reported by the provider (false while ${what}); leave it unset`;
  };
}

/** Problems of a DiskPool's inputs, all of them, in camelCase (the engine checks the ids). */
export function validateDiskPoolInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  if (checkRequired(failures, props, "templateId")) checkKnown(failures, props, "templateId", idProblem("a Template"));
  if (checkRequired(failures, props, "datastoreId")) checkKnown(failures, props, "datastoreId", idProblem("a Datastore"));
  if (checkRequired(failures, props, "size")) checkKnown(failures, props, "size", (v) => intRangeProblem(v, POOL_SIZE_RANGE));
  checkKnown(failures, props, "atSize", providerReported("the pool is below its size"));
  return failures;
}

/** The DiskPool inputs with `atSize` true, so that diffs against outputs stay empty. */
export function withDiskPoolDefaults<T extends Props>(props: T): T {
  return { ...props, atSize: props.atSize ?? true };
}

/** Problems of a Vm's inputs, all of them, in camelCase (the engine checks the ids). */
export function validateVmInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  if (checkRequired(failures, props, "name")) checkKnown(failures, props, "name", nameProblem);
  const given = (k: string) => props[k] !== undefined && props[k] !== null;
  if (given("instantCloneOf")) {
    // An instant clone takes its disk and memory from its parent, and runs from the moment it is made.
    checkKnown(failures, props, "instantCloneOf", idProblem("an InstantCloneParent"));
    for (const k of ["templateId", "forkOf", "datastoreId"]) if (given(k)) failures.push({ property: k, reason: "must be unset when instantCloneOf is set" });
    if (!given("powerState")) failures.push({ property: "powerState", reason: 'must be set ("running") with instantCloneOf: a stopped instant clone loses the captured state' });
  } else if (given("forkOf")) {
    // A fork takes its disk from the VM it forks: no template, and its disk stays beside its parent's.
    checkKnown(failures, props, "forkOf", idProblem("a Vm"));
    if (given("templateId")) failures.push({ property: "templateId", reason: "must be unset when forkOf is set" });
    if (given("datastoreId")) failures.push({ property: "datastoreId", reason: "must be unset when forkOf is set" });
  } else if (!given("templateId")) {
    failures.push({ property: "templateId", reason: "is required (or set forkOf to fork a VM, or instantCloneOf to start an instant clone)" });
  } else checkKnown(failures, props, "templateId", idProblem("a Template"));
  checkKnown(failures, props, "datastoreId", idProblem("a Datastore"));
  checkKnown(failures, props, "cloneMode", cloneModeProblem);
  checkKnown(failures, props, "powerState", powerStateProblem);
  if (given("stopTimeoutSeconds")) checkKnown(failures, props, "stopTimeoutSeconds", (v) => intRangeProblem(v, { min: 0, max: 3600 }));
  checkKnown(failures, props, "hostId", nameProblem);
  checkKnown(failures, props, "migrationNotifyTimeoutSeconds", notifyTimeoutProblem);
  checkKnown(failures, props, "migrationOnMissingAck", missingAckProblem);
  return failures;
}

/** The Vm inputs with `cloneMode` defaulting to pool (and power and migration policy to the engine's defaults), so that diffs against outputs stay empty. */
export function withVmDefaults<T extends Props>(props: T): T {
  return {
    ...props,
    cloneMode: props.cloneMode ?? "pool",
    powerState: props.powerState ?? "stopped",
    migrationNotifyTimeoutSeconds: props.migrationNotifyTimeoutSeconds ?? DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
    migrationOnMissingAck: props.migrationOnMissingAck ?? DEFAULT_MIGRATION_ON_MISSING_ACK,
  };
}

/** Problems of a Fleet's inputs, all of them, in camelCase (the engine checks the ids). */
export function validateFleetInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  if (checkRequired(failures, props, "templateId")) checkKnown(failures, props, "templateId", idProblem("a Template"));
  if (checkRequired(failures, props, "size")) checkKnown(failures, props, "size", (v) => intRangeProblem(v, FLEET_SIZE_RANGE));
  checkKnown(failures, props, "namePrefix", namePrefixProblem);
  if (checkRequired(failures, props, "datastoreIds") && known(props.datastoreIds)) {
    const ids = props.datastoreIds;
    if (!Array.isArray(ids)) failures.push({ property: "datastoreIds", reason: "must be a list of Datastore ids" });
    else {
      if (ids.length === 0) failures.push({ property: "datastoreIds", reason: "must list at least one datastore" });
      if (ids.length > FLEET_DATASTORES_MAX) failures.push({ property: "datastoreIds", reason: `must list at most ${FLEET_DATASTORES_MAX} datastores` });
      ids.forEach((id, i) => {
        if (!known(id)) return;
        const p = idProblem("a Datastore")(id) ?? (ids.indexOf(id) < i ? `repeats ${String(id)}` : null);
        if (p) failures.push({ property: `datastoreIds[${i}]`, reason: p });
      });
    }
  }
  checkKnown(failures, props, "cloneMode", cloneModeProblem);
  checkKnown(failures, props, "powerState", powerStateProblem);
  checkKnown(failures, props, "membersHealthy", providerReported("a member is missing"));
  return failures;
}

/** The Fleet inputs with `cloneMode` pool and `membersHealthy` true, so that diffs against outputs stay empty. */
export function withFleetDefaults<T extends Props>(props: T): T {
  return { ...props, cloneMode: props.cloneMode ?? "pool", powerState: props.powerState ?? "stopped", membersHealthy: props.membersHealthy ?? true };
}

/** Problems of a Snapshot's inputs, all of them, in camelCase (the engine checks that the VM exists). */
export function validateSnapshotInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  if (checkRequired(failures, props, "vmId")) checkKnown(failures, props, "vmId", idProblem("a Vm"));
  if (checkRequired(failures, props, "name")) checkKnown(failures, props, "name", nameProblem);
  return failures;
}

const RAM_LOCATIONS = ["tmpfs", "datastore"];

/** Problems of an InstantCloneParent's inputs, all of them, in camelCase (the engine checks that the VM exists and runs). */
export function validateInstantCloneParentInputs(props: Props): CheckFailure[] {
  const failures = validateConnection(props);
  if (checkRequired(failures, props, "sourceVmId")) checkKnown(failures, props, "sourceVmId", idProblem("a running Vm"));
  if (checkRequired(failures, props, "name")) checkKnown(failures, props, "name", nameProblem);
  checkKnown(failures, props, "ramLocation", (v) => (typeof v === "string" && RAM_LOCATIONS.includes(v) ? null : `must be one of ${RAM_LOCATIONS.join(", ")} (got ${JSON.stringify(v)})`));
  for (const k of ["restartSource", "waitForChildrenOnDestroy"]) checkKnown(failures, props, k, (v) => (typeof v === "boolean" ? null : "must be true or false"));
  checkKnown(failures, props, "warmCount", (v) => intRangeProblem(v, { min: 0, max: MAX_WARM_CHILDREN }));
  return failures;
}

/** The InstantCloneParent inputs with their defaults (the source restarted, no waiting at delete, no pre-started children), so that diffs against outputs stay empty. */
export function withInstantCloneParentDefaults<T extends Props>(props: T): T {
  return { ...props, restartSource: props.restartSource ?? true, waitForChildrenOnDestroy: props.waitForChildrenOnDestroy ?? false, warmCount: props.warmCount ?? 0 };
}
