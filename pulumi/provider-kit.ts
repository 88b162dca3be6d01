/**
 * Pure helpers the dynamic providers use. The SDK serializes each provider with everything it
 * captures, so this module imports nothing: its functions travel by value into the
 * dynamic-provider process, where `loadRuntime` requires the code that talks to the engine.
 */

/** The package path the provider process requires; resolved from the Pulumi project's folder. */
export const RUNTIME_MODULE = "clonefleet/dist/pulumi/provider-runtime";

/** The value the Pulumi engine sends for an input that is not known yet (during preview). */
export const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

type Props = Record<string, unknown>;

/**
 * Loads the provider runtime inside the dynamic-provider process; throws a `CF_PROVIDER_SETUP`
 * error saying how to install it when the project cannot resolve the clonefleet package.
 */
export function loadRuntime(): typeof import("./provider-runtime") {
  try {
    return require(RUNTIME_MODULE);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code !== "MODULE_NOT_FOUND") throw err;
    const error = new Error(
      `CF_PROVIDER_SETUP: the clonefleet Pulumi provider cannot load ${RUNTIME_MODULE} from ${process.cwd()}; ` +
        'add "clonefleet" to the project\'s dependencies (for example "file:../path/to/clonefleet"), run npm install, ' +
        "and build clonefleet with npm run build",
    );
    // One sentence is the whole story; the frames would only point into serialized closure text.
    error.stack = error.message;
    throw error;
  }
}

/** True when two input values are the same; null and undefined both mean "not set". */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === undefined || a === null) return b === undefined || b === null;
  if (typeof a === "object" || typeof b === "object") return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

/** The keys among `keys` whose value differs between the old outputs and the new inputs; unknown new values count as changed. */
export function changedKeys(olds: Props, news: Props, keys: readonly string[]): string[] {
  return keys.filter((k) => news[k] === UNKNOWN_VALUE || !sameValue(olds[k], news[k]));
}

/** The keys a provider compares in diff: the resource's inputs and the connection inputs. */
export function withConnectionKeys(keys: readonly string[]): string[] {
  return [...keys, "endpoint", "token"];
}

/** The connection inputs of `props` that are set, for carrying them into outputs. */
export function connectionOf(props: { endpoint?: unknown; token?: unknown }): { endpoint?: string; token?: string } {
  const out: { endpoint?: string; token?: string } = {};
  if (typeof props.endpoint === "string") out.endpoint = props.endpoint;
  if (typeof props.token === "string") out.token = props.token;
  return out;
}
