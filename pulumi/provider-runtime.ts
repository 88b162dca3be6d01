/**
 * What the dynamic providers load inside the Pulumi dynamic-provider process. The SDK ships a
 * provider as closure text, so its methods `require` this module by package name
 * (`clonefleet/dist/pulumi/provider-runtime`, see provider-kit.ts) instead of capturing it.
 */
import { randomUUID } from "node:crypto";
import { ApiError, ApiUnreachableError, ClonefleetClient, JobTimeoutError } from "../engine/client";

import {
  knownReferences,
  OPERATION_TIMEOUTS,
  referenceProblems,
  REFERENCES,
  timeoutMs,
  timeoutsProblems,
  type TimeoutOperation,
} from "../engine/client/rules";
import { UNKNOWN_VALUE } from "./provider-kit";
import { PULUMI_FACE, toFailures, type CheckFailure } from "./validate";

export { applyPlacement, checkHostKnown, planPlacement } from "../engine/client/placement";
export { resolveName } from "./autoname";
export { createVm, updateVm } from "../engine/client/vm-lifecycle";

export {
  PULUMI_FACE,
  validateDatastoreInputs,
  validateDiskPoolInputs,
  validateFleetInputs,
  validateInstantCloneParentInputs,
  validateReplicaInputs,
  validateSnapshotInputs,
  validateTemplateInputs,
  validateVmInputs,
  withDiskPoolDefaults,
  withFleetDefaults,
  withInstantCloneParentDefaults,
  withReplicaDefaults,
  withTemplateDefaults,
  withVmDefaults,
} from "./validate";

/** Where the engine listens when neither the inputs nor the environment say. */
export const DEFAULT_ENDPOINT = "http://127.0.0.1:7420";

/** The connection inputs every clonefleet resource carries. */
export interface ConnectionProps {
  endpoint?: unknown;
  token?: unknown;
}

/**
 * A client for the resource's `endpoint` and `token`, falling back to `CLONEFLEET_ENDPOINT` /
 * `CLONEFLEET_TOKEN` in the provider process (an import or `get` may carry neither); never throws.
 */
export function connect(props: ConnectionProps | undefined, env: NodeJS.ProcessEnv = process.env): ClonefleetClient {
  const endpoint = nonEmpty(props?.endpoint) ?? nonEmpty(env.CLONEFLEET_ENDPOINT) ?? DEFAULT_ENDPOINT;
  const token = nonEmpty(props?.token) ?? nonEmpty(env.CLONEFLEET_TOKEN) ?? null;
  return new ClonefleetClient({ endpoint, token });
}

/** A fresh idempotency key, so that the client may retry a job submission safely. */
export function newIdempotencyKey(): string {
  return `pulumi-${randomUUID()}`;
}

/**
 * The error a provider method throws for `err`: `CF_<CODE>: <one sentence>`, naming the action
 * (such as `create template "base"`) and the input at fault in camelCase; never throws itself.
 */
export function providerError(err: unknown, action: string, endpoint?: string, limit?: OperationTimeout): Error {
  return sentence(describe(err, action, endpoint, limit));
}

function describe(err: unknown, action: string, endpoint?: string, limit?: OperationTimeout): string {
  const where = endpoint ? ` at ${endpoint}` : "";
  if (err instanceof ApiUnreachableError) {
    return (
      `CF_UNREACHABLE: cannot ${action}: cannot reach the clonefleet engine at ${err.endpoint} (${err.reason}); ` +
      "start it with `clonefleet engine serve` or set `endpoint`, the `clonefleet:endpoint` config or CLONEFLEET_ENDPOINT"
    );
  }
  if (err instanceof ApiError && err.status === 401) {
    return (
      `${err.code}: cannot ${action}: the clonefleet engine${where} refused the API token (${err.message}); ` +
      "set `token`, the `clonefleet:token` config or CLONEFLEET_TOKEN to the token in the engine's state folder"
    );
  }
  if (err instanceof ApiError) {
    const field = err.field ? camelCaseField(err.field) : undefined;
    let message = err.message;
    if (err.field && field) message = message.split(`${err.field}: `).join(`${field}: `);
    const names = field && !message.includes(`${field}:`) ? ` (input ${field})` : "";
    return `${err.code}: cannot ${action}: ${message}${names}`;
  }
  if (err instanceof JobTimeoutError) {
    const within = limit ? ` (timeouts.${limit.operation} is ${limit.text}; set it to allow longer)` : "";
    return `CF_JOB_TIMEOUT: cannot ${action}: ${err.message}${within}`;
  }
  const message = err instanceof Error ? err.message : String(err);
  return `CF_INTERNAL: cannot ${action}: ${message}`;
}

/**
 * `err` with the engine's `field` renamed (a route's `id` is the resource's `vmId`, say), so
 * that providerError names the input the user wrote; other errors come back unchanged.
 */
export function renameField(err: unknown, from: string, to: string): unknown {
  if (!(err instanceof ApiError) || err.field !== from) return err;
  return new ApiError(err.status, err.code, `${to}: ${err.message}`, to);
}

/** The error for an object that vanished from the engine while Pulumi still holds it. */
export function goneError(kind: string, id: string, action: string): Error {
  return sentence(`CF_NOT_FOUND: cannot ${action}: ${kind} ${id} was removed outside clonefleet; run \`pulumi refresh\` and the next update recreates it`);
}

/** `datastore_ids[1]` → `datastoreIds[1]`: the wire speaks snake_case, Pulumi users camelCase. */
export function camelCaseField(field: string): string {
  return field.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function sentence(message: string): Error {
  const err = new Error(message);
  // The SDK's server prints `${err}: ${err.stack}` and Pulumi shows it: our frames would only
  // bury the one sentence that tells the user what to fix.
  err.stack = message;
  return err;
}

function nonEmpty(v: unknown): string | undefined {
  return typeof v === "string" && v.length > 0 ? v : undefined;
}

/** A resource kind with reference attributes and time limits: a key of the rule book's tables. */
export type ResourceKey = keyof typeof REFERENCES;

/** The time limit of one operation: the `timeouts` input's value for it, else the resource's default. */
export interface OperationTimeout {
  operation: TimeoutOperation;
  ms: number;
  /** As the user wrote it (or the default), for messages. */
  text: string;
}

/** The time limit of `operation` on a resource of kind `key` with inputs (or outputs) `props`; 30 minutes when the kind has none. */
export function operationTimeout(props: object | undefined, key: ResourceKey | undefined, operation: TimeoutOperation): OperationTimeout {
  const given = ((props as { timeouts?: Record<string, unknown> } | undefined)?.timeouts)?.[operation];
  const ms = timeoutMs(given);
  if (ms !== undefined) return { operation, ms, text: typeof given === "number" ? `${given}s` : String(given) };
  const defaults: Partial<Record<TimeoutOperation, string>> = key ? OPERATION_TIMEOUTS[key] : {};
  const text = defaults[operation] ?? "30m";
  return { operation, ms: timeoutMs(text)!, text };
}

/** Problems of the `timeouts` input of a resource of kind `key`. */
export function validateTimeouts(props: Record<string, unknown>, key: ResourceKey): CheckFailure[] {
  return toFailures(timeoutsProblems(props.timeouts, PULUMI_FACE, Object.keys(OPERATION_TIMEOUTS[key])));
}

/**
 * A failure for each id among the inputs that the engine does not know, so that a wrong id fails
 * at preview; only ids that changed since `olds` are looked up. An engine that cannot be reached
 * (or refuses the token) yields no failure: check judges inputs, and the operation that needs
 * the engine reports it, naming how to fix the connection.
 */
export async function referenceFailures(inputs: Record<string, unknown>, olds: Record<string, unknown>, key: ResourceKey): Promise<CheckFailure[]> {
  const refs = knownReferences(inputs, PULUMI_FACE, REFERENCES[key], Object.keys(olds).length > 0 ? olds : null);
  if (refs.length === 0 || inputs.endpoint === UNKNOWN_VALUE || inputs.token === UNKNOWN_VALUE) return [];
  try {
    return toFailures(await referenceProblems(connect(inputs), refs));
  } catch (err) {
    if (err instanceof ApiUnreachableError || err instanceof ApiError) return [];
    throw err;
  }
}
