/**
 * The Pulumi face of the rule book (engine/client/rules): inputs in camelCase, UNKNOWN_VALUE for
 * what preview does not know yet. Adds what only Pulumi needs (required inputs, which Terraform's
 * schema enforces, and the connection inputs) and the defaults check fills in. They run inside
 * the dynamic provider's `check`, gather every problem and never throw.
 */
import {
  datastoreProblems,
  diskPoolProblems,
  fleetProblems,
  instantCloneParentProblems,
  replicaProblems,
  snapshotProblems,
  templateProblems,
  vmMayComeFromParent,
  vmProblems,
  type Face,
  type RuleProblem,
} from "../engine/client/rules";
import { DEFAULT_MEMORY_MB, DEFAULT_VCPUS } from "../engine/model/rules";
import { DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS, DEFAULT_MIGRATION_ON_MISSING_ACK } from "../engine/model/migration-rules";
import { UNKNOWN_VALUE } from "./provider-kit";

/** One check failure as `dynamic.ResourceProvider.check` returns it. */
export interface CheckFailure {
  property: string;
  reason: string;
}

type Props = Record<string, unknown>;

/** Pulumi's naming (camelCase) and unknowns (UNKNOWN_VALUE; an input left out is undefined). */
export const PULUMI_FACE: Face = {
  isUnknown: (v) => v === UNKNOWN_VALUE,
  attr: (name) => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
};

/** The rule book's problems as check failures. */
export function toFailures(problems: readonly RuleProblem[]): CheckFailure[] {
  return problems.map((p) => ({ property: p.attribute, reason: p.reason }));
}

/** A failure for each required input left out; unknown values count as present. */
function missing(props: Props, required: readonly string[]): CheckFailure[] {
  return required.filter((k) => props[k] === undefined || props[k] === null).map((property) => ({ property, reason: "is required" }));
}

/** Problems of the connection inputs `endpoint` (an http(s) URL) and `token` (a string). */
export function validateConnection(props: Props): CheckFailure[] {
  const failures: CheckFailure[] = [];
  const endpoint = props.endpoint;
  if (endpoint !== undefined && endpoint !== null && endpoint !== UNKNOWN_VALUE) {
    const reason = endpointProblem(endpoint);
    if (reason) failures.push({ property: "endpoint", reason });
  }
  const token = props.token;
  if (token !== undefined && token !== null && token !== UNKNOWN_VALUE && typeof token !== "string") failures.push({ property: "token", reason: "must be a string" });
  return failures;
}

function endpointProblem(v: unknown): string | null {
  if (typeof v !== "string") return "must be a string such as http://127.0.0.1:7420";
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return `must be a URL such as http://127.0.0.1:7420 (got ${JSON.stringify(v)})`;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? null : `must use http or https (got ${url.protocol.replace(/:$/, "")})`;
}

/** Every problem of a resource's inputs: the connection, the rule book's, then the required inputs left out. */
function validateWith(props: Props, required: readonly string[], rules: (config: Props, face: Face) => RuleProblem[]): CheckFailure[] {
  return [...validateConnection(props), ...toFailures(rules(props, PULUMI_FACE)), ...missing(props, required)];
}

/** Problems of a Datastore's inputs, all of them, in camelCase. */
export function validateDatastoreInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["name", "path"], datastoreProblems);
}

/** Problems of a Template's inputs, all of them, in camelCase (the engine checks the files). */
export function validateTemplateInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["name", "datastoreId", "sourcePath"], templateProblems);
}

/** The Template inputs with the engine's defaults filled in, so that diffs against outputs stay empty. */
export function withTemplateDefaults<T extends Props>(props: T): T {
  return { ...props, memoryMb: props.memoryMb ?? DEFAULT_MEMORY_MB, vcpus: props.vcpus ?? DEFAULT_VCPUS };
}

/** Problems of a Replica's inputs, all of them, in camelCase (the engine checks the files and ids). */
export function validateReplicaInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["targetDatastoreId"], replicaProblems);
}

/** The Replica inputs with their defaults filled in (`verify` false, `inSync` true), so that diffs against outputs stay empty. */
export function withReplicaDefaults<T extends Props>(props: T): T {
  return { ...props, verify: props.verify ?? false, inSync: props.inSync ?? true };
}

/** Problems of a DiskPool's inputs, all of them, in camelCase (the engine checks the ids). */
export function validateDiskPoolInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["templateId", "datastoreId", "size"], diskPoolProblems);
}

/** The DiskPool inputs with `atSize` true, so that diffs against outputs stay empty. */
export function withDiskPoolDefaults<T extends Props>(props: T): T {
  return { ...props, atSize: props.atSize ?? true };
}

/** Problems of a Vm's inputs, all of them, in camelCase (the engine checks the ids). */
export function validateVmInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["name"], vmProblems);
}

/**
 * The Vm inputs with the engine's defaults for power and migration policy, and `cloneMode` pool
 * for a clone of a template only: a fork or an instant clone has no clone mode (it reads null).
 */
export function withVmDefaults<T extends Props>(props: T): T {
  return {
    ...props,
    ...(vmMayComeFromParent(props, PULUMI_FACE) ? {} : { cloneMode: props.cloneMode ?? "pool" }),
    powerState: props.powerState ?? "stopped",
    migrationNotifyTimeoutSeconds: props.migrationNotifyTimeoutSeconds ?? DEFAULT_MIGRATION_NOTIFY_TIMEOUT_SECONDS,
    migrationOnMissingAck: props.migrationOnMissingAck ?? DEFAULT_MIGRATION_ON_MISSING_ACK,
    haRestart: props.haRestart ?? false,
  };
}

/** Problems of a Fleet's inputs, all of them, in camelCase (the engine checks the ids). */
export function validateFleetInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["templateId", "size", "datastoreIds"], fleetProblems);
}

/** The Fleet inputs with `cloneMode` pool and `membersHealthy` true, so that diffs against outputs stay empty. */
export function withFleetDefaults<T extends Props>(props: T): T {
  return { ...props, cloneMode: props.cloneMode ?? "pool", powerState: props.powerState ?? "stopped", membersHealthy: props.membersHealthy ?? true };
}

/** Problems of a Snapshot's inputs, all of them, in camelCase (the engine checks that the VM exists). */
export function validateSnapshotInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["vmId", "name"], snapshotProblems);
}

/** Problems of an InstantCloneParent's inputs, all of them, in camelCase (the engine checks that the VM exists and runs). */
export function validateInstantCloneParentInputs(props: Props): CheckFailure[] {
  return validateWith(props, ["sourceVmId", "name"], instantCloneParentProblems);
}

/** The InstantCloneParent inputs with their defaults (the source restarted, no waiting at delete, no pre-started children), so that diffs against outputs stay empty. */
export function withInstantCloneParentDefaults<T extends Props>(props: T): T {
  return { ...props, restartSource: props.restartSource ?? true, waitForChildrenOnDestroy: props.waitForChildrenOnDestroy ?? false, warmCount: props.warmCount ?? 0 };
}
