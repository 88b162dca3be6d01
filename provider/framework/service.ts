/**
 * The tfplugin6.Provider service built from a provider definition. Each RPC decodes its
 * DynamicValues against the schema, applies the framework's rules, calls the resource's
 * operation and encodes the answer. The only in-memory state is the client ConfigureProvider
 * builds: Terraform starts a fresh process for validate, plan and apply.
 */
import * as grpc from "@grpc/grpc-js";
import { CtyConversionError, CtyType, CtyValue, decodeJson, decodeMsgpack, encodeMsgpack } from "../protocol/cty";
import { Diagnostic, Diagnostics, ProtoDiagnostic, toProtoDiagnostics, toProtoPath } from "../protocol/diagnostics";
import { Logger, createLogger } from "../protocol/log";
import { formatPath } from "../protocol/path";
import { OperationContext, Provider } from "./define";
import { IsNotFound, OperationAbortedError, ToDiagnostic, defaultIsNotFound, defaultToDiagnostic } from "./errors";
import { dataStateFromResult, firstUnknownPath, onlyTimeoutsChanged, planResourceChange, stateFromImport, stateFromResult, toModel } from "./plan";
import { BlockSchema, TIMEOUTS_BLOCK, blockType, toProtoSchema } from "./schema";
import { TimeoutOperation, parseDuration } from "./timeouts";

/** How long an aborted operation may take to settle with its own error before the generic timeout error is reported. */
const ABORT_GRACE_MS = 1000;

interface DynamicValueMessage {
  msgpack?: Buffer;
  json?: Buffer;
}

type Request = Record<string, unknown> & { type_name?: string };

/** The server capabilities we announce: PlanResourceChange is also called for destroys. */
export const SERVER_CAPABILITIES = { plan_destroy: true, get_provider_schema_optional: true, move_resource_state: false };

function decodeValue(dv: unknown, type: CtyType): CtyValue {
  const m = (dv ?? {}) as DynamicValueMessage;
  if (m.msgpack && m.msgpack.length > 0) return decodeMsgpack(m.msgpack, type);
  if (m.json && m.json.length > 0) return decodeJson(m.json, type);
  return CtyValue.nullOf(type);
}

function encodeValue(v: CtyValue, type: CtyType): DynamicValueMessage {
  return { msgpack: encodeMsgpack(v, type) };
}

// Replaces unknown values left in a result with null, so the state stays storable after a bug report.
function withoutUnknowns(v: CtyValue): CtyValue {
  if (!v.isKnown()) return CtyValue.nullOf(v.type);
  if (v.isNull() || v.isWhollyKnown()) return v;
  const kind = typeof v.type === "string" ? v.type : v.type[0];
  const t = v.type as readonly [string, CtyType];
  switch (kind) {
    case "object":
      return CtyValue.object(new Map([...v.entries()].map(([k, e]) => [k, withoutUnknowns(e)])), v.type);
    case "map":
      return CtyValue.map(t[1], new Map([...v.entries()].map(([k, e]) => [k, withoutUnknowns(e)])));
    case "list":
      return CtyValue.list(t[1], v.elements().map(withoutUnknowns));
    case "set":
      return CtyValue.set(t[1], v.elements().map(withoutUnknowns));
    default:
      return CtyValue.tuple(v.elements().map(withoutUnknowns), v.type);
  }
}

function idOf(model: Record<string, unknown>): string | undefined {
  return typeof model.id === "string" ? model.id : undefined;
}

/** Options for providerService. */
export interface ServiceOptions {
  log?: Logger;
}

/** The Provider service handlers plus a hook that aborts running operations (for shutdown). */
export interface ProviderService {
  handlers: grpc.UntypedServiceImplementation;
  abortAll(reason: string): void;
}

/** Builds the tfplugin6.Provider handlers for a provider definition. */
export function providerService(provider: Provider<unknown, unknown>, opts: ServiceOptions = {}): ProviderService {
  const log = opts.log ?? createLogger(`provider.terraform-provider-${provider.typeName}`);
  const toDiagnostic: ToDiagnostic = provider.toDiagnostic ?? defaultToDiagnostic;
  const isNotFound: IsNotFound = provider.isNotFound ?? defaultIsNotFound;
  const resources = new Map(provider.resources.map((r) => [r.typeName, r]));
  const dataSources = new Map((provider.dataSources ?? []).map((d) => [d.typeName, d]));
  const providerType = blockType(provider.schema);
  const inflight = new Set<AbortController>();
  let configured = false;
  let client: unknown;

  const unknownType = (kind: string, name: unknown): Diagnostic => ({
    severity: "error",
    summary: `Unknown ${kind} type`,
    detail: `The ${provider.typeName} provider has no ${kind} type ${JSON.stringify(name)}.`,
  });

  const conversionProblem = (err: unknown, typeName: string, verb: string): Diagnostic => ({
    severity: "error",
    summary: "Provider produced an invalid value",
    detail: `${verb} ${typeName}: ${(err as Error).message}. This is a bug in the provider.`,
    path: err instanceof CtyConversionError ? err.path : undefined,
  });

  function timeoutFor(schema: BlockSchema, value: CtyValue, op: TimeoutOperation): { ms?: number; text?: string } {
    if (!schema.timeouts || schema.timeouts.defaults[op] === undefined) return {};
    const block = value.isNull() || !value.isKnown() ? undefined : value.getAttr(TIMEOUTS_BLOCK);
    const set = block && block.isKnown() && !block.isNull() ? block.getAttr(op) : undefined;
    const text = set && set.isKnown() && !set.isNull() ? set.asString() : schema.timeouts.defaults[op]!;
    return { ms: parseDuration(text), text };
  }

  async function runOperation<T>(
    typeName: string,
    op: TimeoutOperation,
    limit: { ms?: number; text?: string },
    diags: Diagnostics,
    fn: (ctx: OperationContext<unknown>) => Promise<T>,
  ): Promise<T> {
    if (!configured) {
      throw new Error(`the ${provider.typeName} provider is not configured: its configuration may depend on values that are known only after apply`);
    }
    const controller = new AbortController();
    inflight.add(controller);
    // An operation that watches ctx.signal may settle with its own, more specific error (naming
    // the job it leaves running, say); it gets a moment to do so before the generic one wins.
    const aborted = new Promise<never>((_, reject) =>
      controller.signal.addEventListener("abort", () => setTimeout(() => reject(controller.signal.reason), ABORT_GRACE_MS), { once: true }),
    );
    const timer =
      limit.ms === undefined
        ? undefined
        : setTimeout(
            () => controller.abort(new OperationAbortedError(`${op} did not finish within ${limit.text} (set timeouts.${op} to allow longer)`)),
            limit.ms,
          );
    const ctx: OperationContext<unknown> = { client, typeName, timeoutMs: limit.ms, signal: controller.signal, log, diagnostics: diags };
    try {
      return await Promise.race([fn(ctx), aborted]);
    } finally {
      if (timer) clearTimeout(timer);
      inflight.delete(controller);
    }
  }

  function checkTimeouts(schema: BlockSchema, config: CtyValue, diags: Diagnostics): void {
    if (!schema.timeouts || config.isNull() || !config.isKnown()) return;
    const block = config.getAttr(TIMEOUTS_BLOCK);
    if (block.isNull() || !block.isKnown()) return;
    for (const [op, v] of block.entries()) {
      if (!v.isKnown() || v.isNull()) continue;
      if (parseDuration(v.asString()) === undefined) {
        diags.error("Invalid duration", `${JSON.stringify(v.asString())} is not a duration; write it like "30s", "20m" or "1h30m".`, [
          { attribute: TIMEOUTS_BLOCK },
          { attribute: op },
        ]);
      }
    }
  }

  const handlers: Record<string, (req: Request) => Promise<Record<string, unknown>>> = {
    async GetMetadata() {
      return {
        server_capabilities: SERVER_CAPABILITIES,
        diagnostics: [],
        resources: [...resources.keys()].map((type_name) => ({ type_name })),
        data_sources: [...dataSources.keys()].map((type_name) => ({ type_name })),
        functions: [],
        ephemeral_resources: [],
      };
    },

    async GetProviderSchema() {
      return {
        provider: toProtoSchema(provider.schema),
        resource_schemas: Object.fromEntries([...resources].map(([n, r]) => [n, toProtoSchema(r.schema)])),
        data_source_schemas: Object.fromEntries([...dataSources].map(([n, d]) => [n, toProtoSchema(d.schema)])),
        functions: {},
        ephemeral_resource_schemas: {},
        diagnostics: [],
        server_capabilities: SERVER_CAPABILITIES,
      };
    },

    async ValidateProviderConfig(req) {
      const diags = new Diagnostics();
      const config = decodeValue(req.config, providerType);
      provider.validate?.(toModel(provider.schema, config), diags);
      return { diagnostics: toProtoDiagnostics(diags.items) };
    },

    async ValidateResourceConfig(req) {
      const r = resources.get(req.type_name ?? "");
      if (!r) return { diagnostics: toProtoDiagnostics([unknownType("resource", req.type_name)]) };
      const diags = new Diagnostics();
      const config = decodeValue(req.config, blockType(r.schema));
      checkTimeouts(r.schema, config, diags);
      r.validate?.(toModel(r.schema, config), diags);
      return { diagnostics: toProtoDiagnostics(diags.items) };
    },

    async ValidateDataResourceConfig(req) {
      const d = dataSources.get(req.type_name ?? "");
      if (!d) return { diagnostics: toProtoDiagnostics([unknownType("data source", req.type_name)]) };
      const diags = new Diagnostics();
      d.validate?.(toModel(d.schema, decodeValue(req.config, blockType(d.schema))), diags);
      return { diagnostics: toProtoDiagnostics(diags.items) };
    },

    async UpgradeResourceState(req) {
      const r = resources.get(req.type_name ?? "");
      if (!r) return { diagnostics: toProtoDiagnostics([unknownType("resource", req.type_name)]) };
      const type = blockType(r.schema);
      const raw = (req.raw_state ?? {}) as { json?: Buffer; flatmap?: Record<string, string> };
      const version = Number(req.version ?? 0);
      const diags = new Diagnostics();
      if (!raw.json || raw.json.length === 0) {
        if (raw.flatmap && Object.keys(raw.flatmap).length > 0) {
          diags.error("Cannot upgrade state", `${r.typeName} state in the flatmap format of Terraform 0.11 and older cannot be read; re-import the resource.`);
          return { diagnostics: toProtoDiagnostics(diags.items) };
        }
        return { upgraded_state: encodeValue(CtyValue.nullOf(type), type), diagnostics: [] };
      }
      if (version > r.schema.version) {
        diags.error(
          "Cannot upgrade state",
          `The state of this ${r.typeName} was written by a newer provider (schema version ${version}, this provider knows ${r.schema.version}). Use that provider version or newer.`,
        );
        return { diagnostics: toProtoDiagnostics(diags.items) };
      }
      let text: string | Buffer = raw.json;
      if (version < r.schema.version) {
        if (!r.upgradeState) {
          diags.error("Cannot upgrade state", `${r.typeName} has no upgrade from schema version ${version} to ${r.schema.version}.`);
          return { diagnostics: toProtoDiagnostics(diags.items) };
        }
        text = JSON.stringify(r.upgradeState(version, JSON.parse(raw.json.toString("utf8")) as Record<string, unknown>));
      }
      // Attributes a newer schema dropped are left behind rather than failing the whole state.
      const value = decodeJson(text, type, { ignoreUnknownAttributes: true });
      return { upgraded_state: encodeValue(value, type), diagnostics: [] };
    },

    async GetResourceIdentitySchemas() {
      return { identity_schemas: {}, diagnostics: [] };
    },

    async UpgradeResourceIdentity(req) {
      return {
        diagnostics: toProtoDiagnostics([
          { severity: "error", summary: "Resource identity not supported", detail: `${req.type_name} has no resource identity.` },
        ]),
      };
    },

    async ConfigureProvider(req) {
      const diags = new Diagnostics();
      const config = decodeValue(req.config, providerType);
      try {
        const built = await provider.configure(toModel(provider.schema, config), diags, { terraformVersion: String(req.terraform_version ?? "") });
        // No client and no error means the configuration is not fully known yet (plan before apply).
        if (!diags.hasErrors() && built !== undefined) {
          client = built;
          configured = true;
        }
      } catch (err) {
        diags.add(toDiagnostic(err, "configure", `the ${provider.typeName} provider`));
      }
      log.debug("provider configured", { ok: !diags.hasErrors() });
      return { diagnostics: toProtoDiagnostics(diags.items) };
    },

    async ReadResource(req) {
      const r = resources.get(req.type_name ?? "");
      if (!r) return { diagnostics: toProtoDiagnostics([unknownType("resource", req.type_name)]) };
      const type = blockType(r.schema);
      const current = decodeValue(req.current_state, type);
      const diags = new Diagnostics();
      if (current.isNull()) return { new_state: encodeValue(current, type), private: req.private, diagnostics: [] };
      const model = toModel(r.schema, current);
      let next = current;
      try {
        const result = await runOperation(r.typeName, "read", timeoutFor(r.schema, current, "read"), diags, (ctx) => r.read(ctx, model));
        next = result === null ? CtyValue.nullOf(type) : stateFromResult(r.schema, current, result as Record<string, unknown>);
      } catch (err) {
        if (isNotFound(err)) next = CtyValue.nullOf(type);
        else if (err instanceof CtyConversionError) diags.add(conversionProblem(err, r.typeName, "read"));
        else diags.add(toDiagnostic(err, "read", r.typeName, idOf(model)));
      }
      log.debug("read resource", { type: r.typeName, gone: next.isNull() });
      return { new_state: encodeValue(withoutUnknowns(next), type), private: req.private, diagnostics: toProtoDiagnostics(diags.items) };
    },

    async PlanResourceChange(req) {
      const r = resources.get(req.type_name ?? "");
      if (!r) return { diagnostics: toProtoDiagnostics([unknownType("resource", req.type_name)]) };
      const type = blockType(r.schema);
      const prior = decodeValue(req.prior_state, type);
      const proposed = decodeValue(req.proposed_new_state, type);
      const config = decodeValue(req.config, type);
      const { planned, requiresReplace } = planResourceChange(r.schema, prior, proposed, config);
      const diags = new Diagnostics();
      // Without a client (the provider's configuration is not known yet) the apply checks instead.
      if (r.checkPlan && configured && !planned.isNull()) {
        const checkPlan = r.checkPlan.bind(r);
        const priorModel = prior.isNull() ? null : toModel(r.schema, prior);
        try {
          await runOperation(r.typeName, "read", {}, diags, (ctx) => checkPlan(ctx, toModel(r.schema, planned), priorModel));
        } catch (err) {
          diags.add(toDiagnostic(err, "plan", r.typeName, priorModel ? idOf(priorModel) : undefined));
        }
      }
      return {
        planned_state: encodeValue(planned, type),
        requires_replace: requiresReplace.map(toProtoPath),
        planned_private: req.prior_private,
        diagnostics: toProtoDiagnostics(diags.items),
      };
    },

    async ApplyResourceChange(req) {
      const r = resources.get(req.type_name ?? "");
      if (!r) return { diagnostics: toProtoDiagnostics([unknownType("resource", req.type_name)]) };
      const type = blockType(r.schema);
      const prior = decodeValue(req.prior_state, type);
      const planned = decodeValue(req.planned_state, type);
      const diags = new Diagnostics();
      let next: CtyValue;
      if (planned.isNull()) {
        next = prior;
        if (!prior.isNull()) {
          const model = toModel(r.schema, prior);
          try {
            await runOperation(r.typeName, "delete", timeoutFor(r.schema, prior, "delete"), diags, (ctx) => r.delete(ctx, model));
            next = CtyValue.nullOf(type);
          } catch (err) {
            if (isNotFound(err)) next = CtyValue.nullOf(type);
            else diags.add(toDiagnostic(err, "delete", r.typeName, idOf(model)));
          }
        }
      } else if (prior.isNull()) {
        next = CtyValue.nullOf(type);
        const model = toModel(r.schema, planned);
        try {
          const result = await runOperation(r.typeName, "create", timeoutFor(r.schema, planned, "create"), diags, (ctx) => r.create(ctx, model));
          next = stateFromResult(r.schema, planned, result as Record<string, unknown>);
        } catch (err) {
          if (err instanceof CtyConversionError) diags.add(conversionProblem(err, r.typeName, "create"));
          else diags.add(toDiagnostic(err, "create", r.typeName, idOf(model)));
        }
      } else if (onlyTimeoutsChanged(r.schema, prior, planned) || !r.update) {
        next = planned;
      } else {
        next = prior;
        const model = toModel(r.schema, planned);
        const priorModel = toModel(r.schema, prior);
        const update = r.update.bind(r);
        try {
          const result = await runOperation(r.typeName, "update", timeoutFor(r.schema, planned, "update"), diags, (ctx) => update(ctx, model, priorModel));
          next = stateFromResult(r.schema, planned, result as Record<string, unknown>);
        } catch (err) {
          if (err instanceof CtyConversionError) diags.add(conversionProblem(err, r.typeName, "update"));
          else diags.add(toDiagnostic(err, "update", r.typeName, idOf(priorModel)));
        }
      }
      const unknownAt = firstUnknownPath(next);
      if (unknownAt) {
        diags.error(
          "Provider produced an incomplete result",
          `${r.typeName}: the operation set no value for ${formatPath(unknownAt)}; it is stored as null. This is a bug in the provider.`,
          unknownAt,
        );
        next = withoutUnknowns(next);
      }
      return { new_state: encodeValue(next, type), private: req.planned_private, diagnostics: toProtoDiagnostics(diags.items) };
    },

    async ImportResourceState(req) {
      const r = resources.get(req.type_name ?? "");
      if (!r) return { diagnostics: toProtoDiagnostics([unknownType("resource", req.type_name)]) };
      if (!r.importId) {
        return { diagnostics: toProtoDiagnostics([{ severity: "error", summary: "Import not supported", detail: `${r.typeName} cannot be imported.` }]) };
      }
      const type = blockType(r.schema);
      const state = stateFromImport(r.schema, r.importId(String(req.id ?? "")) as Record<string, unknown>);
      return {
        imported_resources: [{ type_name: r.typeName, state: encodeValue(state, type), private: Buffer.alloc(0) }],
        diagnostics: [],
      };
    },

    async MoveResourceState(req) {
      return {
        diagnostics: toProtoDiagnostics([
          {
            severity: "error",
            summary: "Move not supported",
            detail: `The ${provider.typeName} provider cannot move ${String(req.source_type_name)} state into ${String(req.target_type_name)}.`,
          },
        ]),
      };
    },

    async ReadDataSource(req) {
      const d = dataSources.get(req.type_name ?? "");
      if (!d) return { diagnostics: toProtoDiagnostics([unknownType("data source", req.type_name)]) };
      const type = blockType(d.schema);
      const config = decodeValue(req.config, type);
      const diags = new Diagnostics();
      let state = CtyValue.nullOf(type);
      const model = toModel(d.schema, config);
      try {
        const result = await runOperation(d.typeName, "read", {}, diags, (ctx) => d.read(ctx, model));
        state = dataStateFromResult(d.schema, config, result as Record<string, unknown>);
      } catch (err) {
        if (err instanceof CtyConversionError) diags.add(conversionProblem(err, d.typeName, "read"));
        else diags.add(toDiagnostic(err, "read", d.typeName));
      }
      return { state: encodeValue(withoutUnknowns(state), type), diagnostics: toProtoDiagnostics(diags.items) };
    },

    async ValidateEphemeralResourceConfig(req) {
      return { diagnostics: toProtoDiagnostics([unknownType("ephemeral resource", req.type_name)]) };
    },
    async OpenEphemeralResource(req) {
      return { diagnostics: toProtoDiagnostics([unknownType("ephemeral resource", req.type_name)]) };
    },
    async RenewEphemeralResource(req) {
      return { diagnostics: toProtoDiagnostics([unknownType("ephemeral resource", req.type_name)]) };
    },
    async CloseEphemeralResource(req) {
      return { diagnostics: toProtoDiagnostics([unknownType("ephemeral resource", req.type_name)]) };
    },

    async GetFunctions() {
      return { functions: {}, diagnostics: [] };
    },
    async CallFunction(req) {
      return { error: { text: `The ${provider.typeName} provider has no function ${JSON.stringify(req.name)}.` } };
    },

    async StopProvider() {
      abortAll("Terraform asked the provider to stop");
      return { Error: "" };
    },
  };

  function abortAll(reason: string): void {
    for (const c of inflight) c.abort(new OperationAbortedError(reason));
  }

  function crashResponse(method: string, err: unknown): Record<string, unknown> {
    const message = err instanceof Error ? err.message : String(err);
    if (method === "StopProvider") return { Error: message };
    if (method === "CallFunction") return { error: { text: message } };
    const diag: ProtoDiagnostic[] = toProtoDiagnostics([{ severity: "error", summary: `Provider error in ${method}`, detail: message }]);
    return { diagnostics: diag };
  }

  const grpcHandlers: grpc.UntypedServiceImplementation = {};
  for (const [method, fn] of Object.entries(handlers)) {
    grpcHandlers[method] = (call: grpc.ServerUnaryCall<Request, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const fields = call.request.type_name ? { type: call.request.type_name } : {};
      log.debug(method, fields);
      const start = performance.now();
      fn(call.request).then(
        (res) => {
          // The time each RPC took, for telling the provider's share of a slow plan from Terraform's.
          log.debug(`${method} answered`, { ...fields, ms: Math.round(performance.now() - start) });
          cb(null, res);
        },
        (err: unknown) => {
          log.error(`${method} failed`, { error: err instanceof Error ? err.message : String(err) });
          cb(null, crashResponse(method, err));
        },
      );
    };
  }
  return { handlers: grpcHandlers, abortAll };
}
