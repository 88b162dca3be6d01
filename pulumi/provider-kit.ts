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

type Runtime = typeof import("./provider-runtime");
type Client = import("../engine/client").ClonefleetClient;
type ResourceKey = import("./provider-runtime").ResourceKey;
type OperationTimeout = import("./provider-runtime").OperationTimeout;

/** What an operation of a dynamic resource receives besides its values. */
export interface DynamicContext {
  /** The provider runtime, loaded in the dynamic-provider process. */
  rt: Runtime;
  /** A client for the resource's `endpoint` and `token`. */
  client: Client;
  /** This operation's time limit (the `timeouts` input, else the resource's default); pass `timeout.ms` to waitJob. */
  timeout: OperationTimeout;
}

/**
 * What a dynamic resource file declares: its kind, which inputs replace it, its checks by name
 * (they live in the runtime) and its operations on the engine. defineDynamicResource does the
 * rest: autonaming, the `timeouts` input, reference checks at preview, connecting, 404 → gone,
 * errors as `CF_<CODE>: <sentence>`, and the diff.
 */
export interface DynamicResourceSpec<I, O> {
  /** The noun in messages, such as "VM". */
  noun: string;
  /** The rule book's key for the resource's references and time limits; none for resources without jobs or references. */
  key?: ResourceKey;
  /** Name of the runtime's input check (`validateVmInputs`) and of its defaults (`withVmDefaults`, optional). */
  validate: keyof Runtime;
  defaults?: keyof Runtime;
  /** Inputs compared in diff (the connection inputs are added). */
  inputKeys: readonly string[];
  /** Of those, the ones a change of which replaces the resource. */
  replaceKeys: readonly string[];
  /** Inputs compared only when given (left out, they mean "whatever the engine chose"). */
  givenKeys?: readonly string[];
  /** State written by an earlier version of the provider, brought up to this one before it is diffed (an input added since, say). */
  upgradeState?(olds: Partial<O>): Partial<O>;
  /** True when the resource has a `name` Pulumi may generate (logical name plus a random suffix). */
  autoname?: boolean;
  /**
   * Whether a replacement deletes the old object first, given the inputs that force it; default:
   * always (names are unique on the engine). A resource whose new object can coexist with the old
   * one when, say, its name changes too says so here.
   */
  deleteBeforeReplace?(replaces: readonly string[]): boolean;
  /** The action a message names, such as `create VM "web"`; default `<verb> <noun> <"name" or id>`. */
  action?(verb: string, props: Partial<I>, id?: string): string;
  create(ctx: DynamicContext, inputs: I): Promise<{ id: string; outs: O }>;
  /** The outputs (and, for an import or a `get`, the inputs) read back; null when the object is gone. */
  read(ctx: DynamicContext, id: string, props: Partial<O>): Promise<{ props: O; inputs?: I } | null>;
  /** Changes the object in place; without it only the connection may change, and an update re-reads the object through the new one. */
  update?(ctx: DynamicContext, id: string, olds: O, news: I): Promise<O>;
  /** Deletes the object; a 404 counts as done. */
  delete(ctx: DynamicContext, id: string, props: O): Promise<void>;
}

/**
 * The dynamic provider for `spec`. Like everything in this module it travels by value: the SDK
 * serializes the returned object with `spec` and the functions here, and each method loads the
 * runtime in the provider process.
 */
export function defineDynamicResource<I extends object, O extends object>(spec: DynamicResourceSpec<I, O>): import("@pulumi/pulumi").dynamic.ResourceProvider<I, O> {
  const actionOf = (verb: string, props: Partial<I> | Partial<O>, id?: string): string => {
    if (spec.action) return spec.action(verb, props as Partial<I>, id);
    const name = (props as { name?: unknown }).name;
    return `${verb} ${spec.noun} ${typeof name === "string" && !id ? JSON.stringify(name) : (id ?? "")}`.trim();
  };
  // Connection and time limits travel with the outputs: read and delete get only those.
  const carry = (props: object, outs: O): O => {
    const p = props as { timeouts?: unknown };
    return { ...outs, ...connectionOf(props), ...(p.timeouts !== undefined && p.timeouts !== null ? { timeouts: p.timeouts } : {}) };
  };
  const context = (rt: Runtime, props: object, op: "create" | "read" | "update" | "delete"): DynamicContext => ({
    rt,
    client: rt.connect(props),
    timeout: rt.operationTimeout(props, spec.key, op),
  });
  // A message made by the resource or the runtime already says everything; anything else is described now.
  const rethrow = (rt: Runtime, err: unknown, action: string, ctx: DynamicContext): never => {
    if (err instanceof Error && /^CF_[A-Z_]+: /.test(err.message)) throw err;
    throw rt.providerError(err, action, ctx.client.endpoint, ctx.timeout);
  };

  return {
    async check(olds, news) {
      const checked = await checkInputs(spec, { ...olds } as Props, { ...news } as Props);
      return { inputs: checked.inputs as unknown as I, failures: checked.failures };
    },

    async diff(_id, olds, news) {
      const o = { ...(spec.upgradeState ? spec.upgradeState({ ...olds }) : olds) } as Props;
      const n = { ...news } as Props;
      const changes = changedKeys(o, n, withConnectionKeys(spec.inputKeys));
      for (const k of spec.givenKeys ?? []) if (n[k] !== undefined && n[k] !== null) changes.push(...changedKeys(o, n, [k]));
      const replaces = changes.filter((k) => spec.replaceKeys.includes(k));
      // Names are unique on the engine: by default the old object goes first.
      const deleteBeforeReplace = replaces.length > 0 && (spec.deleteBeforeReplace ? spec.deleteBeforeReplace(replaces) : true);
      return { changes: changes.length > 0, replaces, deleteBeforeReplace };
    },

    async create(inputs) {
      const rt = loadRuntime();
      const ctx = context(rt, inputs, "create");
      try {
        const made = await spec.create(ctx, inputs);
        return { id: made.id, outs: carry(inputs, made.outs) };
      } catch (err) {
        return rethrow(rt, err, actionOf("create", inputs), ctx);
      }
    },

    async read(id, props) {
      const rt = loadRuntime();
      const ctx = context(rt, props ?? {}, "read");
      try {
        const got = await spec.read(ctx, id, (props ?? {}) as Partial<O>);
        // Gone: an empty result tells Pulumi so, and the next update recreates it.
        if (!got) return {};
        const outs = carry(props ?? {}, got.props);
        return got.inputs ? { id, props: outs, inputs: got.inputs as unknown as O } : { id, props: outs };
      } catch (err) {
        if ((err as { status?: number }).status === 404) return {};
        return rethrow(rt, err, actionOf("read", props ?? {}, id), ctx);
      }
    },

    async update(id, olds, news) {
      const rt = loadRuntime();
      const ctx = context(rt, news, "update");
      try {
        if (spec.update) return { outs: carry(news, await spec.update(ctx, id, olds, news)) };
        // Only the connection changed: reading the object through it proves the new one works.
        const got = await spec.read(ctx, id, { ...olds, ...news } as Partial<O>);
        if (!got) throw rt.goneError(spec.noun, id, actionOf("update", news, id));
        return { outs: carry(news, got.props) };
      } catch (err) {
        return rethrow(rt, err, actionOf("update", news, id), ctx);
      }
    },

    async delete(id, props) {
      const rt = loadRuntime();
      const ctx = context(rt, props, "delete");
      try {
        await spec.delete(ctx, id, props);
      } catch (err) {
        // Already gone is what delete wants.
        if ((err as { status?: number }).status === 404) return;
        rethrow(rt, err, actionOf("delete", props, id), ctx);
      }
    },
  };
}

/** What checkInputs needs to know of a resource. */
export type CheckSpec = Pick<DynamicResourceSpec<object, object>, "validate" | "defaults" | "key" | "autoname">;

/**
 * A provider's `check`: the name made when none is given (autoname), the defaults filled in, every
 * problem of the inputs (the rule book's, the `timeouts` input's) and, when those are fine, the
 * ids the engine does not know. The checks are named, not captured: they live in the runtime.
 */
export async function checkInputs(spec: CheckSpec, olds: Props, news: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }> {
  const rt = loadRuntime();
  const named = <T>(name: keyof Runtime): ((v: Props) => T) => rt[name] as unknown as (v: Props) => T;
  const props = { ...news };
  if (spec.autoname) {
    const name = rt.resolveName(olds, props);
    if (name !== undefined) props.name = name;
  }
  const inputs = spec.defaults ? named<Props>(spec.defaults)(props) : props;
  const failures = [...named<{ property: string; reason: string }[]>(spec.validate)(props), ...(spec.key ? rt.validateTimeouts(props, spec.key) : [])];
  if (failures.length === 0 && spec.key) failures.push(...(await rt.referenceFailures(inputs, olds, spec.key)));
  return { inputs, failures };
}
