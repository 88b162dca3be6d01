/**
 * The definitions a provider is made of. A resource is one object: its schema beside its
 * validate, create, read, update, delete and import; the framework does the protocol, the
 * plan rules, timeouts and error reporting around them.
 */
import { Diagnostics } from "../protocol/diagnostics";
import { Logger } from "../protocol/log";
import { AttributeSpec, isComputed } from "./attributes";
import { IsNotFound, ToDiagnostic } from "./errors";
import { BlockSchema, TIMEOUTS_BLOCK } from "./schema";
import { TimeoutsSpec } from "./timeouts";

/** What every operation receives besides its values. */
export interface OperationContext<Client> {
  /** The API client ConfigureProvider built in this provider process. */
  readonly client: Client;
  readonly typeName: string;
  /** This operation's time limit from the timeouts block (or its default); undefined when it has none. */
  readonly timeoutMs: number | undefined;
  /** Aborted when the time limit passes or Terraform asks the provider to stop. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Warnings to show the user (errors are thrown instead). */
  readonly diagnostics: Diagnostics;
}

/** One attribute spec per field of the model, no more and no fewer. */
export type Attributes<Model> = { readonly [K in keyof Model]-?: AttributeSpec };

/** A model whose values may still be unknown (undefined): configurations and plans. */
export type Planned<Model> = { [K in keyof Model]: Model[K] | undefined };

/** The fields an operation returns; a field left undefined keeps its planned (or prior) value. */
export type Result<Model> = { [K in keyof Model]?: Model[K] };

/** What a resource file declares. */
export interface ResourceConfig<State, Client> {
  /** Provider prefix plus suffix, e.g. `clonefleet_vm`. */
  typeName: string;
  /** User documentation for the resource. */
  description: string;
  /** Schema version; bump it with `upgradeState` when stored state must change shape. */
  version?: number;
  attributes: Attributes<State>;
  blocks?: { timeouts?: TimeoutsSpec };
  /** Checks a configuration (values may be unknown); adds every problem to `diags`, never throws. */
  validate?(config: Planned<State>, diags: Diagnostics): void;
  /**
   * Checks a plan against the world before anything is applied (that the ids it names exist,
   * say); `prior` is null for a create. Adds errors to `ctx.diagnostics`, or throws. Runs only
   * once the provider is configured and the resource is not being destroyed.
   */
  checkPlan?(ctx: OperationContext<Client>, plan: Planned<State>, prior: State | null): Promise<void>;
  /** Creates the object; returns the complete state, every computed attribute set. */
  create(ctx: OperationContext<Client>, plan: Planned<State>): Promise<Result<State>>;
  /** Reads the object back; returns null when it no longer exists (Terraform then plans to create it). */
  read(ctx: OperationContext<Client>, state: State): Promise<Result<State> | null>;
  /** Changes the object in place; absent when every user-set attribute forces replacement. */
  update?(ctx: OperationContext<Client>, plan: Planned<State>, prior: State): Promise<Result<State>>;
  /** Deletes the object; deleting one that is already gone succeeds. */
  delete(ctx: OperationContext<Client>, state: State): Promise<void>;
  /** The state `terraform import ID` starts from; Read fills in the rest. Defaults to `{ id }`. */
  importId?(id: string): Result<State>;
  /** Rewrites state stored by an older schema version (as plain JSON) into the current shape. */
  upgradeState?(version: number, raw: Record<string, unknown>): Record<string, unknown>;
}

/** A defined resource: its declaration plus the compiled schema. */
export interface Resource<State, Client> extends ResourceConfig<State, Client> {
  readonly kind: "resource";
  readonly schema: BlockSchema;
}

/** What a data source file declares. */
export interface DataSourceConfig<State, Client> {
  typeName: string;
  description: string;
  attributes: Attributes<State>;
  validate?(config: Planned<State>, diags: Diagnostics): void;
  /** Reads the data for a (wholly known) configuration. */
  read(ctx: OperationContext<Client>, config: Planned<State>): Promise<Result<State>>;
}

/** A defined data source. */
export interface DataSource<State, Client> extends DataSourceConfig<State, Client> {
  readonly kind: "dataSource";
  readonly schema: BlockSchema;
}

/** What ConfigureProvider passes besides the configuration. */
export interface ConfigureInfo {
  terraformVersion: string;
}

/** What the provider declares: its own configuration, its client, and its resources. */
export interface ProviderConfig<Config, Client> {
  /** The provider's local name, e.g. `clonefleet`; resource type names start with it. */
  typeName: string;
  description?: string;
  attributes: Attributes<Config>;
  validate?(config: Planned<Config>, diags: Diagnostics): void;
  /**
   * Builds the API client from the configuration (values may be unknown during plan); reports
   * problems in `diags` and returns undefined when it cannot. Called once per provider process.
   */
  configure(config: Planned<Config>, diags: Diagnostics, info: ConfigureInfo): Client | undefined | Promise<Client | undefined>;
  resources: readonly Resource<unknown, Client>[];
  dataSources?: readonly DataSource<unknown, Client>[];
  /** Replaces the default mapping of operation errors to diagnostics. */
  toDiagnostic?: ToDiagnostic;
  /** Replaces the default test for "Read found nothing". */
  isNotFound?: IsNotFound;
}

/** A defined provider. */
export interface Provider<Config, Client> extends ProviderConfig<Config, Client> {
  readonly kind: "provider";
  readonly schema: BlockSchema;
}

const TYPE_NAME = /^[a-z][a-z0-9_]*$/;
const ATTRIBUTE_NAME = /^[a-z_][a-z0-9_]*$/;
// Names Terraform's language reserves inside resource blocks.
const RESERVED = new Set(["count", "depends_on", "for_each", "lifecycle", "provider", "provisioner", "connection", "source", "version"]);

function checkAttributes(what: string, attrs: { readonly [name: string]: AttributeSpec }, extra: string[] = []): void {
  for (const name of [...Object.keys(attrs), ...extra]) {
    if (!ATTRIBUTE_NAME.test(name)) throw new Error(`${what}: attribute name ${JSON.stringify(name)} is not snake_case`);
    if (RESERVED.has(name)) throw new Error(`${what}: attribute name ${JSON.stringify(name)} is reserved by Terraform`);
  }
}

/** Declares a resource; throws when the declaration is inconsistent (names, missing update, import without id). */
export function defineResource<State, Client = unknown>(config: ResourceConfig<State, Client>): Resource<State, Client> {
  const attrs = config.attributes as { readonly [name: string]: AttributeSpec };
  if (!TYPE_NAME.test(config.typeName)) throw new Error(`resource type name ${JSON.stringify(config.typeName)} is not snake_case`);
  checkAttributes(config.typeName, attrs);
  for (const [name, spec] of Object.entries(attrs)) {
    const missing = spec.defaultUnlessSet.filter((other) => !(other in attrs));
    if (missing.length > 0) throw new Error(`${config.typeName}: ${name}'s default depends on unknown attributes ${missing.join(", ")}`);
  }
  if (TIMEOUTS_BLOCK in attrs && config.blocks?.timeouts) throw new Error(`${config.typeName}: "timeouts" is both an attribute and a block`);
  if (!config.update) {
    const inPlace = Object.entries(attrs).filter(([, s]) => s.mode !== "computed" && !s.replace);
    if (inPlace.length > 0) {
      throw new Error(`${config.typeName}: ${inPlace.map(([n]) => n).join(", ")} can change in place but the resource has no update`);
    }
  }
  const importId = config.importId ?? ("id" in attrs ? (id: string) => ({ id }) as unknown as Result<State> : undefined);
  const schema: BlockSchema = { description: config.description, version: config.version ?? 0, attributes: attrs, timeouts: config.blocks?.timeouts };
  return { ...config, importId, kind: "resource", schema };
}

/** Declares a data source; throws when names are not snake_case. */
export function defineDataSource<State, Client = unknown>(config: DataSourceConfig<State, Client>): DataSource<State, Client> {
  const attrs = config.attributes as { readonly [name: string]: AttributeSpec };
  if (!TYPE_NAME.test(config.typeName)) throw new Error(`data source type name ${JSON.stringify(config.typeName)} is not snake_case`);
  checkAttributes(config.typeName, attrs);
  if (Object.values(attrs).some((s) => s.replace || s.keepPrior)) throw new Error(`${config.typeName}: replace and keepPrior mean nothing for a data source`);
  return { ...config, kind: "dataSource", schema: { description: config.description, version: 0, attributes: attrs } };
}

/** Declares the provider with its resources; throws on duplicate or unprefixed type names and computed-only provider attributes. */
export function defineProvider<Config, Client>(config: ProviderConfig<Config, Client>): Provider<Config, Client> {
  const attrs = config.attributes as { readonly [name: string]: AttributeSpec };
  if (!TYPE_NAME.test(config.typeName)) throw new Error(`provider name ${JSON.stringify(config.typeName)} is not snake_case`);
  checkAttributes(`provider ${config.typeName}`, attrs);
  if (Object.values(attrs).some((s) => isComputed(s))) throw new Error(`provider ${config.typeName}: provider attributes cannot be computed`);
  const seen = new Set<string>();
  for (const r of [...config.resources, ...(config.dataSources ?? [])]) {
    const key = `${r.kind}:${r.typeName}`;
    if (seen.has(key)) throw new Error(`${r.typeName} is defined twice`);
    seen.add(key);
    if (!r.typeName.startsWith(`${config.typeName}_`)) throw new Error(`${r.typeName} must start with ${config.typeName}_`);
  }
  const schema: BlockSchema = { description: config.description ?? "", version: 0, attributes: attrs };
  return { ...config, kind: "provider", schema };
}
