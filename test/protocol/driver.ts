/**
 * A protocol test driver that plays Terraform: it launches a provider executable the way
 * Terraform's plugin client does (environment, handshake line, AutoMTLS with a client
 * certificate of its own, gRPC over the unix socket or loopback TCP), offers typed calls that
 * take and return plain JS values (msgpack-encoded with the schema's types), and walks whole
 * lifecycles with Terraform core's checks, one fresh provider process per step.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  CtyType,
  CtyValue,
  decodeMsgpack,
  encodeJson,
  encodeMsgpack,
  fromPlain,
  parseTypeJson,
  rawEquals,
  toPlain,
  typeKind,
} from "../../provider/protocol/cty";
import { Diagnostic, formatDiagnostic, fromProtoDiagnostics, fromProtoPath } from "../../provider/protocol/diagnostics";
import { Handshake, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE, parseHandshakeLine } from "../../provider/protocol/handshake";
import { CertificateBundle, derToPem, makeCertificate } from "../../provider/protocol/mtls";
import { PathStep, formatPath } from "../../provider/protocol/path";
import { loadProtocol } from "../../provider/protocol/proto";

/** How to start the provider, and which parts of Terraform's environment to send or spoil. */
export interface LaunchOptions {
  command: string;
  args?: string[];
  /** Extra environment on top of this process's (Terraform passes its own environment through). */
  env?: NodeJS.ProcessEnv;
  /** The magic cookie to send; null sends none. */
  magicCookie?: string | null;
  /** PLUGIN_PROTOCOL_VERSIONS; Terraform offers "5,6". null sends none. */
  protocolVersions?: string | null;
  /** The AutoMTLS client certificate; a fresh one by default, null to run without TLS. */
  clientCert?: CertificateBundle | null;
  /** PLUGIN_MIN_PORT / PLUGIN_MAX_PORT (Terraform's defaults are 10000 and 25000). */
  minPort?: number;
  maxPort?: number;
  /** TF_LOG for the provider, e.g. "trace". */
  tfLog?: string;
}

/** The provider process ended before printing its handshake line. */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "LaunchError";
  }
}

/** A step returned error diagnostics (Terraform would stop and print them). */
export class DiagnosticsError extends Error {
  constructor(
    readonly step: string,
    readonly diagnostics: Diagnostic[],
  ) {
    super(`${step}:\n${diagnostics.map((d) => "  " + formatDiagnostic(d)).join("\n")}`);
    this.name = "DiagnosticsError";
  }
}

/** The provider broke a rule Terraform core enforces ("Provider produced invalid plan" and friends). */
export class CoreCheckError extends Error {
  constructor(
    readonly check: string,
    readonly problems: string[],
  ) {
    super(`${check}:\n${problems.map((p) => "  - " + p).join("\n")}`);
    this.name = "CoreCheckError";
  }
}

/** One attribute as the schema describes it. */
export interface AttributeInfo {
  type: CtyType;
  required: boolean;
  optional: boolean;
  computed: boolean;
  sensitive: boolean;
  description: string;
}

/** One block as the schema describes it. */
export interface BlockInfo {
  attributes: Record<string, AttributeInfo>;
  blocks: Record<string, { nesting: string; block: BlockInfo }>;
  description: string;
}

/** A schema with its implied value type. */
export interface SchemaInfo {
  version: number;
  block: BlockInfo;
  type: CtyType;
}

/** GetProviderSchema decoded. */
export interface ProviderSchemas {
  provider: SchemaInfo;
  resources: Record<string, SchemaInfo>;
  dataSources: Record<string, SchemaInfo>;
  serverCapabilities: Record<string, boolean>;
  diagnostics: Diagnostic[];
}

type Msg = Record<string, unknown>;
type DynamicValue = { msgpack?: Buffer; json?: Buffer };

function blockInfo(b: Msg | undefined): BlockInfo {
  const attributes: Record<string, AttributeInfo> = {};
  for (const a of (b?.attributes ?? []) as Msg[]) {
    attributes[String(a.name)] = {
      type: parseTypeJson(a.type as Buffer),
      required: Boolean(a.required),
      optional: Boolean(a.optional),
      computed: Boolean(a.computed),
      sensitive: Boolean(a.sensitive),
      description: String(a.description ?? ""),
    };
  }
  const blocks: BlockInfo["blocks"] = {};
  for (const nb of (b?.block_types ?? []) as Msg[]) blocks[String(nb.type_name)] = { nesting: String(nb.nesting), block: blockInfo(nb.block as Msg) };
  return { attributes, blocks, description: String(b?.description ?? "") };
}

/** The cty type a block's values have, as Terraform derives it from the schema. */
export function impliedType(block: BlockInfo): CtyType {
  const attrs: Record<string, CtyType> = {};
  for (const [n, a] of Object.entries(block.attributes)) attrs[n] = a.type;
  for (const [n, nb] of Object.entries(block.blocks)) {
    const t = impliedType(nb.block);
    attrs[n] = nb.nesting === "LIST" ? ["list", t] : nb.nesting === "SET" ? ["set", t] : nb.nesting === "MAP" ? ["map", t] : t;
  }
  return ["object", attrs];
}

function schemaInfo(s: Msg | undefined): SchemaInfo {
  const block = blockInfo(s?.block as Msg | undefined);
  return { version: Number(s?.version ?? 0), block, type: impliedType(block) };
}

function dv(v: CtyValue, t: CtyType): DynamicValue {
  return { msgpack: encodeMsgpack(v, t) };
}

function undv(m: unknown, t: CtyType): CtyValue {
  const d = (m ?? {}) as DynamicValue;
  if (d.msgpack && d.msgpack.length > 0) return decodeMsgpack(d.msgpack, t);
  if (d.json && d.json.length > 0) throw new Error("the driver expects msgpack values from the provider");
  return CtyValue.nullOf(t);
}

const CLIENT_CAPABILITIES = { deferral_allowed: false, write_only_attributes_allowed: true };

/** A value given either as a cty value or as plain JS data for the schema's type. */
export type ValueInput = CtyValue | Record<string, unknown> | null;

function asValue(t: CtyType, v: ValueInput): CtyValue {
  return v instanceof CtyValue ? v : fromPlain(t, v);
}

/** A provider process started as Terraform starts one. */
export class ProviderProcess {
  private static readonly running = new Set<ProviderProcess>();
  private stdoutRest = "";
  private stderrText = "";
  private clients?: { provider: grpc.Client; health: grpc.Client; controller: grpc.Client };
  private schemas?: ProviderSchemas;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    private readonly child: ChildProcess,
    readonly handshake: Handshake,
    readonly clientCert: CertificateBundle | null,
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
    firstStdout: string,
    firstStderr: () => string,
  ) {
    this.exited = exited;
    this.stdoutRest = firstStdout;
    child.stdout!.on("data", (d: Buffer) => (this.stdoutRest += d.toString()));
    this.stderrText = firstStderr();
    child.stderr!.on("data", (d: Buffer) => (this.stderrText += d.toString()));
  }

  /** The process id. */
  get pid(): number {
    return this.child.pid!;
  }

  /** Everything the provider wrote to stdout after its handshake line (should stay empty). */
  get extraStdout(): string {
    return this.stdoutRest;
  }

  /** Everything the provider wrote to stderr so far. */
  get stderr(): string {
    return this.stderrText;
  }

  /** The environment Terraform's plugin client gives a provider (on top of its own). */
  static environment(opts: LaunchOptions, clientCert: CertificateBundle | null): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
    delete env[MAGIC_COOKIE_KEY];
    if (opts.magicCookie !== null) env[MAGIC_COOKIE_KEY] = opts.magicCookie ?? MAGIC_COOKIE_VALUE;
    env.PLUGIN_MIN_PORT = String(opts.minPort ?? 10000);
    env.PLUGIN_MAX_PORT = String(opts.maxPort ?? 25000);
    if (opts.protocolVersions !== null) env.PLUGIN_PROTOCOL_VERSIONS = opts.protocolVersions ?? "5,6";
    else delete env.PLUGIN_PROTOCOL_VERSIONS;
    if (clientCert) env.PLUGIN_CLIENT_CERT = clientCert.certPem;
    else delete env.PLUGIN_CLIENT_CERT;
    if (opts.tfLog) env.TF_LOG = opts.tfLog;
    return env;
  }

  /** Starts the provider and reads its handshake line; rejects with LaunchError when it exits first. */
  static launch(opts: LaunchOptions): Promise<ProviderProcess> {
    const clientCert = opts.clientCert === null ? null : (opts.clientCert ?? makeCertificate());
    const child = spawn(opts.command, opts.args ?? [], { env: ProviderProcess.environment(opts, clientCert), stdio: ["pipe", "pipe", "pipe"] });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    let stdout = "";
    let stderr = "";
    return new Promise((resolve, reject) => {
      const onErr = (d: Buffer) => (stderr += d.toString());
      child.stderr!.on("data", onErr);
      const onOut = (d: Buffer) => {
        stdout += d.toString();
        const nl = stdout.indexOf("\n");
        if (nl < 0) return;
        child.stdout!.off("data", onOut);
        child.stderr!.off("data", onErr);
        try {
          const handshake = parseHandshakeLine(stdout.slice(0, nl));
          const p = new ProviderProcess(child, handshake, clientCert, exited, stdout.slice(nl + 1), () => stderr);
          ProviderProcess.running.add(p);
          void exited.then(() => ProviderProcess.running.delete(p));
          resolve(p);
        } catch (e) {
          child.kill("SIGKILL");
          reject(new LaunchError((e as Error).message, null, stdout, stderr));
        }
      };
      child.stdout!.on("data", onOut);
      void exited.then(({ code }) => reject(new LaunchError(`provider exited with code ${code} before its handshake`, code, stdout, stderr)));
    });
  }

  /** Kills every provider process still running (for afterAll/afterEach). */
  static async stopAll(): Promise<void> {
    await Promise.all([...ProviderProcess.running].map((p) => p.stop()));
  }

  /** The gRPC target of the handshake's address. */
  get target(): string {
    return this.handshake.network === "unix" ? `unix:${this.handshake.address}` : this.handshake.address;
  }

  /** Channel credentials: verify the server against the handshake's certificate, present `cert`. */
  credentials(cert: CertificateBundle | null = this.clientCert): grpc.ChannelCredentials {
    if (!this.handshake.serverCertDer) return grpc.credentials.createInsecure();
    const root = Buffer.from(derToPem(this.handshake.serverCertDer));
    return cert ? grpc.credentials.createSsl(root, Buffer.from(cert.keyPem), Buffer.from(cert.certPem)) : grpc.credentials.createSsl(root);
  }

  /** Opens clients for the provider, health and controller services (with another certificate when given). */
  connect(cert: CertificateBundle | null = this.clientCert): { provider: grpc.Client; health: grpc.Client; controller: grpc.Client } {
    const proto = loadProtocol();
    const creds = this.credentials(cert);
    // go-plugin's client verifies the server as "localhost" whatever the socket is.
    const options = { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" };
    return {
      provider: new proto.provider(this.target, creds, options),
      health: new proto.health(this.target, creds, options),
      controller: new proto.controller(this.target, creds, options),
    };
  }

  private get rpc() {
    this.clients ??= this.connect();
    return this.clients;
  }

  /** Calls a unary method on a client and resolves with the response object. */
  static call<T = Msg>(client: grpc.Client, method: string, request: Msg, timeoutMs = 60_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, (...a: unknown[]) => void>)[method];
      fn.call(client, request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) => (err ? reject(err) : resolve(res)));
    });
  }

  /** Calls a tfplugin6.Provider method with a raw request. */
  call<T = Msg>(method: string, request: Msg = {}): Promise<T> {
    return ProviderProcess.call<T>(this.rpc.provider, method, request);
  }

  /** The health status the server reports for a service name ("plugin" is go-plugin's). */
  async health(service = "plugin"): Promise<string> {
    const res = await ProviderProcess.call<{ status: string }>(this.rpc.health, "Check", { service });
    return res.status;
  }

  /** GetProviderSchema, decoded (cached per process). */
  async getProviderSchema(): Promise<ProviderSchemas> {
    if (this.schemas) return this.schemas;
    const res = await this.call("GetProviderSchema");
    const map = (m: unknown) => Object.fromEntries(Object.entries((m ?? {}) as Record<string, Msg>).map(([k, v]) => [k, schemaInfo(v)]));
    this.schemas = {
      provider: schemaInfo(res.provider as Msg),
      resources: map(res.resource_schemas),
      dataSources: map(res.data_source_schemas),
      serverCapabilities: (res.server_capabilities ?? {}) as Record<string, boolean>,
      diagnostics: fromProtoDiagnostics(res.diagnostics as Msg[]),
    };
    return this.schemas;
  }

  private async resourceSchema(type: string): Promise<SchemaInfo> {
    const s = (await this.getProviderSchema()).resources[type];
    if (!s) throw new Error(`the provider has no resource type ${type}`);
    return s;
  }

  private async dataSchema(type: string): Promise<SchemaInfo> {
    const s = (await this.getProviderSchema()).dataSources[type];
    if (!s) throw new Error(`the provider has no data source type ${type}`);
    return s;
  }

  /** ValidateProviderConfig with a plain or cty configuration. */
  async validateProviderConfig(config: ValueInput): Promise<Diagnostic[]> {
    const t = (await this.getProviderSchema()).provider.type;
    const res = await this.call("ValidateProviderConfig", { config: dv(asValue(t, config), t) });
    return fromProtoDiagnostics(res.diagnostics as Msg[]);
  }

  /** ConfigureProvider with a plain or cty configuration. */
  async configure(config: ValueInput, terraformVersion = "1.11.4"): Promise<Diagnostic[]> {
    const t = (await this.getProviderSchema()).provider.type;
    const res = await this.call("ConfigureProvider", {
      terraform_version: terraformVersion,
      config: dv(asValue(t, config), t),
      client_capabilities: CLIENT_CAPABILITIES,
    });
    return fromProtoDiagnostics(res.diagnostics as Msg[]);
  }

  /** ValidateResourceConfig. */
  async validateResourceConfig(type: string, config: ValueInput): Promise<Diagnostic[]> {
    const s = await this.resourceSchema(type);
    const res = await this.call("ValidateResourceConfig", { type_name: type, config: dv(asValue(s.type, config), s.type), client_capabilities: CLIENT_CAPABILITIES });
    return fromProtoDiagnostics(res.diagnostics as Msg[]);
  }

  /** ValidateDataResourceConfig. */
  async validateDataResourceConfig(type: string, config: ValueInput): Promise<Diagnostic[]> {
    const s = await this.dataSchema(type);
    const res = await this.call("ValidateDataResourceConfig", { type_name: type, config: dv(asValue(s.type, config), s.type) });
    return fromProtoDiagnostics(res.diagnostics as Msg[]);
  }

  /** UpgradeResourceState from stored JSON. */
  async upgradeResourceState(type: string, version: number, json: string): Promise<{ state: CtyValue; diagnostics: Diagnostic[] }> {
    const s = await this.resourceSchema(type);
    const res = await this.call("UpgradeResourceState", { type_name: type, version, raw_state: { json: Buffer.from(json) } });
    return { state: undv(res.upgraded_state, s.type), diagnostics: fromProtoDiagnostics(res.diagnostics as Msg[]) };
  }

  /** ReadResource. */
  async readResource(type: string, state: ValueInput, priv: Buffer = Buffer.alloc(0)): Promise<{ state: CtyValue; private: Buffer; diagnostics: Diagnostic[] }> {
    const s = await this.resourceSchema(type);
    const res = await this.call("ReadResource", {
      type_name: type,
      current_state: dv(asValue(s.type, state), s.type),
      private: priv,
      client_capabilities: CLIENT_CAPABILITIES,
    });
    return { state: undv(res.new_state, s.type), private: res.private as Buffer, diagnostics: fromProtoDiagnostics(res.diagnostics as Msg[]) };
  }

  /** PlanResourceChange. */
  async planResourceChange(
    type: string,
    prior: ValueInput,
    proposed: ValueInput,
    config: ValueInput,
    priorPrivate: Buffer = Buffer.alloc(0),
  ): Promise<{ planned: CtyValue; requiresReplace: PathStep[][]; private: Buffer; diagnostics: Diagnostic[] }> {
    const s = await this.resourceSchema(type);
    const res = await this.call("PlanResourceChange", {
      type_name: type,
      prior_state: dv(asValue(s.type, prior), s.type),
      proposed_new_state: dv(asValue(s.type, proposed), s.type),
      config: dv(asValue(s.type, config), s.type),
      prior_private: priorPrivate,
      client_capabilities: CLIENT_CAPABILITIES,
    });
    return {
      planned: undv(res.planned_state, s.type),
      requiresReplace: ((res.requires_replace ?? []) as Msg[]).map((p) => fromProtoPath(p as { steps?: Msg[] }) ?? []),
      private: res.planned_private as Buffer,
      diagnostics: fromProtoDiagnostics(res.diagnostics as Msg[]),
    };
  }

  /** ApplyResourceChange. */
  async applyResourceChange(
    type: string,
    prior: ValueInput,
    planned: ValueInput,
    config: ValueInput,
    plannedPrivate: Buffer = Buffer.alloc(0),
  ): Promise<{ state: CtyValue; private: Buffer; diagnostics: Diagnostic[] }> {
    const s = await this.resourceSchema(type);
    const res = await this.call("ApplyResourceChange", {
      type_name: type,
      prior_state: dv(asValue(s.type, prior), s.type),
      planned_state: dv(asValue(s.type, planned), s.type),
      config: dv(asValue(s.type, config), s.type),
      planned_private: plannedPrivate,
    });
    return { state: undv(res.new_state, s.type), private: res.private as Buffer, diagnostics: fromProtoDiagnostics(res.diagnostics as Msg[]) };
  }

  /** ImportResourceState. */
  async importResourceState(type: string, id: string): Promise<{ imported: { typeName: string; state: CtyValue; private: Buffer }[]; diagnostics: Diagnostic[] }> {
    const schemas = await this.getProviderSchema();
    const res = await this.call("ImportResourceState", { type_name: type, id, client_capabilities: CLIENT_CAPABILITIES });
    const imported = ((res.imported_resources ?? []) as Msg[]).map((r) => {
      const typeName = String(r.type_name);
      const s = schemas.resources[typeName];
      if (!s) throw new CoreCheckError("Provider returned an invalid import", [`imported object has unknown type ${typeName}`]);
      return { typeName, state: undv(r.state, s.type), private: r.private as Buffer };
    });
    return { imported, diagnostics: fromProtoDiagnostics(res.diagnostics as Msg[]) };
  }

  /** ReadDataSource. */
  async readDataSource(type: string, config: ValueInput): Promise<{ state: CtyValue; diagnostics: Diagnostic[] }> {
    const s = await this.dataSchema(type);
    const res = await this.call("ReadDataSource", { type_name: type, config: dv(asValue(s.type, config), s.type), client_capabilities: CLIENT_CAPABILITIES });
    return { state: undv(res.state, s.type), diagnostics: fromProtoDiagnostics(res.diagnostics as Msg[]) };
  }

  /** Closes the provider's stdin (Terraform hands plugins its own stdin, which may be at EOF). */
  closeStdin(): void {
    this.child.stdin!.end();
  }

  /** Asks the plugin to shut down through go-plugin's controller and waits for the process to exit. */
  async shutdown(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    try {
      await ProviderProcess.call(this.rpc.controller, "Shutdown", {}, 10_000);
    } catch {
      // The server may cut the connection as it stops, as go-plugin's does; the exit is what counts.
    }
    this.closeClients();
    const guard = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(guard);
    }
  }

  /** Kills the process if it still runs, waits for it, and removes a socket directory it left. */
  async stop(): Promise<void> {
    this.closeClients();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
    if (this.handshake.network === "unix") {
      const dir = path.dirname(this.handshake.address);
      if (path.basename(dir).startsWith("clonefleet-plugin-")) fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  private closeClients(): void {
    if (!this.clients) return;
    for (const c of Object.values(this.clients)) c.close();
    this.clients = undefined;
  }
}

// ---------------------------------------------------------------------------------------
// Terraform core's rules, reproduced: each failure is one "Provider produced ..." error.

function shown(v: CtyValue, sensitive: boolean): string {
  return sensitive ? "(sensitive value)" : v.toString();
}

/** The proposed new state Terraform sends with PlanResourceChange (config, with computed gaps filled from prior). */
export function proposedNewState(block: BlockInfo, prior: CtyValue, config: CtyValue): CtyValue {
  const type = impliedType(block);
  if (config.isNull()) return CtyValue.nullOf(type);
  const values = new Map<string, CtyValue>();
  for (const [name, a] of Object.entries(block.attributes)) {
    const c = config.getAttr(name);
    const p = prior.isNull() ? CtyValue.nullOf(a.type) : prior.getAttr(name);
    values.set(name, a.computed && c.isKnown() && c.isNull() ? p : c);
  }
  for (const [name, nb] of Object.entries(block.blocks)) {
    const c = config.getAttr(name);
    const p = prior.isNull() ? CtyValue.nullOf(impliedType(nb.block)) : prior.getAttr(name);
    values.set(name, nb.nesting === "SINGLE" && !c.isNull() && c.isKnown() ? proposedNewState(nb.block, p, c) : c);
  }
  return CtyValue.object(values, type);
}

function plannedValueProblems(a: AttributeInfo, prior: CtyValue, config: CtyValue, planned: CtyValue, at: string): string[] {
  if (rawEquals(planned, config)) return [];
  if (!prior.isNull() && !config.isNull() && rawEquals(planned, prior)) return [];
  if (a.computed && !a.optional) return [];
  if (config.isNull() && a.computed) return [];
  if (config.isNull()) return [`${at}: planned value ${shown(planned, a.sensitive)} for a non-computed attribute`];
  if (prior.isNull()) return [`${at}: planned value ${shown(planned, a.sensitive)} does not match config value ${shown(config, a.sensitive)}`];
  return [`${at}: planned value ${shown(planned, a.sensitive)} does not match config value ${shown(config, a.sensitive)} nor prior value ${shown(prior, a.sensitive)}`];
}

/** Terraform's AssertPlanValid: every problem with a planned object against prior and config. */
export function planProblems(block: BlockInfo, prior: CtyValue, config: CtyValue, planned: CtyValue, at = ""): string[] {
  const where = at || "(root)";
  if (!planned.isKnown()) return [`${where}: planned an unknown object`];
  if (config.isNull()) return planned.isNull() ? [] : [`${where}: planned for existence but config wants absence`];
  if (planned.isNull()) return [`${where}: planned for absence but config wants existence`];
  const out: string[] = [];
  for (const [name, a] of Object.entries(block.attributes)) {
    const p = prior.isNull() ? CtyValue.nullOf(a.type) : prior.getAttr(name);
    out.push(...plannedValueProblems(a, p, config.getAttr(name), planned.getAttr(name), at ? `${at}.${name}` : name));
  }
  for (const [name, nb] of Object.entries(block.blocks)) {
    if (nb.nesting !== "SINGLE" && nb.nesting !== "GROUP") continue;
    const p = prior.isNull() ? CtyValue.nullOf(impliedType(nb.block)) : prior.getAttr(name);
    out.push(...planProblems(nb.block, p, config.getAttr(name), planned.getAttr(name), at ? `${at}.${name}` : name));
  }
  return out;
}

/** Terraform's AssertObjectCompatible: every way `actual` departs from what `planned` promised. */
export function compatibilityProblems(planned: CtyValue, actual: CtyValue, at = ""): string[] {
  const where = at || "(root)";
  if (planned.type === "dynamic" || !planned.isKnown()) return [];
  if (actual.isNull()) return planned.isNull() ? [] : [`${where}: was ${planned}, but now null`];
  if (planned.isNull()) return [`${where}: was null, but now ${actual}`];
  if (!actual.isKnown()) return [`${where}: was known, but now unknown`];
  switch (typeKind(planned.type)) {
    case "object":
    case "map": {
      const out: string[] = [];
      const pe = planned.entries();
      const ae = actual.entries();
      for (const k of new Set([...pe.keys(), ...ae.keys()])) {
        const pv = pe.get(k);
        const av = ae.get(k);
        if (!pv || !av) out.push(`${where}: element ${JSON.stringify(k)} ${pv ? "has vanished" : "has appeared"}`);
        else out.push(...compatibilityProblems(pv, av, at ? `${at}.${k}` : k));
      }
      return out;
    }
    case "list":
    case "tuple": {
      const pe = planned.elements();
      const ae = actual.elements();
      if (pe.length !== ae.length) return [`${where}: length changed from ${pe.length} to ${ae.length}`];
      return pe.flatMap((p, i) => compatibilityProblems(p, ae[i], `${where}[${i}]`));
    }
    case "set":
      return planned.isWhollyKnown() && !rawEquals(planned, actual) ? [`${where}: planned set element ${planned}, but now ${actual}`] : [];
    default:
      return rawEquals(planned, actual) ? [] : [`${where}: was ${planned}, but now ${actual}`];
  }
}

function unknownProblems(v: CtyValue, at = ""): string[] {
  if (!v.isKnown()) return [`${at || "(root)"}: unknown value after apply`];
  if (v.isNull() || v.isWhollyKnown()) return [];
  const kind = typeKind(v.type);
  if (kind === "object" || kind === "map") return [...v.entries()].flatMap(([k, e]) => unknownProblems(e, at ? `${at}.${k}` : k));
  return v.elements().flatMap((e, i) => unknownProblems(e, `${at}[${i}]`));
}

// ---------------------------------------------------------------------------------------
// Walks: validate, plan, apply, import, each in its own provider process, as Terraform runs them.

/** A configuration as the driver takes it: provider block, resources and data sources by address. */
export interface Configuration {
  provider: Record<string, unknown>;
  /** `type.name` → attributes (nested blocks as objects, e.g. `timeouts: { create: "5m" }`). */
  resources?: Record<string, Record<string, unknown>>;
  data?: Record<string, Record<string, unknown>>;
}

/** What a plan does to one resource. */
export type Action = "create" | "update" | "replace" | "delete" | "no-op";

/** One resource's planned change. */
export interface ResourceChange {
  address: string;
  type: string;
  action: Action;
  prior: CtyValue;
  planned: CtyValue;
  config: CtyValue;
  requiresReplace: PathStep[][];
  private: Buffer;
}

/** A plan: refreshed prior states, changes, and data source results. */
export interface Plan {
  configuration: Configuration;
  changes: ResourceChange[];
  data: Record<string, unknown>;
  /** Prior states after refresh (null: gone), which apply saves like Terraform does. */
  refreshed: Map<string, { value: CtyValue; private: Buffer }>;
}

interface StateEntry {
  type: string;
  schemaVersion: number;
  json: string;
  private: Buffer;
}

function typeOf(address: string): string {
  return address.slice(0, address.indexOf("."));
}

function throwOnErrors(step: string, diags: Diagnostic[]): void {
  if (diags.some((d) => d.severity === "error")) throw new DiagnosticsError(step, diags);
}

function check(name: string, problems: string[]): void {
  if (problems.length > 0) throw new CoreCheckError(name, problems);
}

/**
 * Terraform core in miniature: keeps state as JSON between steps (as a state file does) and
 * starts one fresh provider process for every validate, plan, apply and import.
 */
export class TerraformWalk {
  /** Stored state per address, JSON like a state file. */
  readonly state = new Map<string, StateEntry>();
  /** One entry per provider process started: the step and its pid. */
  readonly processes: { step: string; pid: number }[] = [];
  /** Stderr of every provider process, for checks on logs. */
  readonly stderr: string[] = [];

  constructor(private readonly launch: LaunchOptions) {}

  private async step<T>(name: string, fn: (p: ProviderProcess, s: ProviderSchemas) => Promise<T>): Promise<T> {
    const p = await ProviderProcess.launch(this.launch);
    this.processes.push({ step: name, pid: p.pid });
    let result: T;
    try {
      const schemas = await p.getProviderSchema();
      throwOnErrors(`${name}: GetProviderSchema`, schemas.diagnostics);
      result = await fn(p, schemas);
    } finally {
      await p.shutdown();
      await p.stop();
      this.stderr.push(p.stderr);
    }
    if (p.extraStdout) throw new CoreCheckError("Provider wrote to stdout after its handshake", [p.extraStdout]);
    return result;
  }

  private configValue(s: SchemaInfo, attrs: Record<string, unknown>, address: string): CtyValue {
    const problems: string[] = [];
    for (const [name, a] of Object.entries(s.block.attributes)) {
      if (a.computed && !a.optional && attrs[name] !== undefined) problems.push(`${address}: ${name} cannot be set; its value is decided by the provider`);
      if (a.required && attrs[name] === undefined) problems.push(`${address}: missing required argument ${name}`);
    }
    check("Invalid configuration", problems);
    return fromPlain(s.type, attrs);
  }

  private stored(address: string, s: SchemaInfo, value: CtyValue, priv: Buffer): void {
    this.state.set(address, { type: typeOf(address), schemaVersion: s.version, json: encodeJson(value, s.type), private: priv });
  }

  /** The stored state of a resource as plain data (from its JSON), or undefined when absent. */
  stateOf(address: string): Record<string, unknown> | undefined {
    const e = this.state.get(address);
    return e ? (JSON.parse(e.json) as Record<string, unknown>) : undefined;
  }

  /** `terraform validate`: every diagnostic from ValidateProviderConfig, ValidateResourceConfig and ValidateDataResourceConfig. */
  validate(config: Configuration): Promise<Diagnostic[]> {
    return this.step("validate", async (p, s) => {
      const diags = [...(await p.validateProviderConfig(this.configValue(s.provider, config.provider, "provider")))];
      for (const [address, attrs] of Object.entries(config.resources ?? {})) {
        const rs = s.resources[typeOf(address)];
        if (!rs) throw new CoreCheckError("Invalid resource type", [address]);
        diags.push(...(await p.validateResourceConfig(typeOf(address), this.configValue(rs, attrs, address))));
      }
      for (const [address, attrs] of Object.entries(config.data ?? {})) {
        const ds = s.dataSources[typeOf(address)];
        if (!ds) throw new CoreCheckError("Invalid data source type", [address]);
        diags.push(...(await p.validateDataResourceConfig(typeOf(address), this.configValue(ds, attrs, address))));
      }
      return diags;
    });
  }

  /** `terraform plan` (or `plan -destroy`): upgrade and refresh state, read data sources, plan every resource. */
  plan(config: Configuration, opts: { destroy?: boolean; refresh?: boolean } = {}): Promise<Plan> {
    return this.step(opts.destroy ? "plan -destroy" : "plan", async (p, s) => {
      throwOnErrors("ConfigureProvider", await p.configure(this.configValue(s.provider, config.provider, "provider")));
      const refreshed = new Map<string, { value: CtyValue; private: Buffer }>();
      for (const [address, entry] of this.state) {
        const up = await p.upgradeResourceState(entry.type, entry.schemaVersion, entry.json);
        throwOnErrors(`UpgradeResourceState ${address}`, up.diagnostics);
        let value = up.state;
        let priv = entry.private;
        if (opts.refresh !== false) {
          const read = await p.readResource(entry.type, value, entry.private);
          throwOnErrors(`ReadResource ${address}`, read.diagnostics);
          check(`Provider produced invalid object (ReadResource ${address})`, unknownProblems(read.state));
          value = read.state;
          priv = read.private;
        }
        refreshed.set(address, { value, private: priv });
      }

      const data: Record<string, unknown> = {};
      for (const [address, attrs] of Object.entries(opts.destroy ? {} : (config.data ?? {}))) {
        const ds = s.dataSources[typeOf(address)];
        const cfg = this.configValue(ds, attrs, address);
        if (!cfg.isWhollyKnown()) continue;
        const res = await p.readDataSource(typeOf(address), cfg);
        throwOnErrors(`ReadDataSource ${address}`, res.diagnostics);
        check(`Provider produced invalid object (ReadDataSource ${address})`, [
          ...planProblems(ds.block, CtyValue.nullOf(ds.type), cfg, res.state),
          ...unknownProblems(res.state),
        ]);
        data[address] = toPlain(res.state);
      }

      const changes: ResourceChange[] = [];
      const wanted = opts.destroy ? {} : (config.resources ?? {});
      const addresses = [...new Set([...Object.keys(wanted), ...refreshed.keys()])];
      for (const address of addresses) {
        const type = typeOf(address);
        const rs = s.resources[type];
        const prior = refreshed.get(address)?.value ?? CtyValue.nullOf(rs.type);
        const priorPrivate = refreshed.get(address)?.private ?? Buffer.alloc(0);
        const attrs = wanted[address];
        if (!attrs) {
          if (prior.isNull()) continue;
          const nul = CtyValue.nullOf(rs.type);
          const res = await p.planResourceChange(type, prior, nul, nul, priorPrivate);
          throwOnErrors(`PlanResourceChange ${address} (destroy)`, res.diagnostics);
          check(`Provider produced invalid plan for ${address}`, res.planned.isNull() ? [] : ["a destroy was planned as a non-null object"]);
          changes.push({ address, type, action: "delete", prior, planned: res.planned, config: nul, requiresReplace: [], private: res.private });
          continue;
        }
        const cfg = this.configValue(rs, attrs, address);
        const res = await p.planResourceChange(type, prior, proposedNewState(rs.block, prior, cfg), cfg, priorPrivate);
        throwOnErrors(`PlanResourceChange ${address}`, res.diagnostics);
        check(`Provider produced invalid plan for ${address}`, planProblems(rs.block, prior, cfg, res.planned));
        // Terraform keeps only the replace paths whose values really differ.
        const replacePaths = res.requiresReplace.filter((pth) => {
          const get = (v: CtyValue) => pth.reduce((acc, st) => ("attribute" in st ? acc.getAttr(st.attribute) : acc), v);
          return prior.isNull() || !(get(res.planned).isWhollyKnown() && rawEquals(get(res.planned), get(prior)));
        });
        if (!prior.isNull() && replacePaths.length > 0) {
          const nul = CtyValue.nullOf(rs.type);
          const again = await p.planResourceChange(type, nul, proposedNewState(rs.block, nul, cfg), cfg, Buffer.alloc(0));
          throwOnErrors(`PlanResourceChange ${address} (replacement)`, again.diagnostics);
          check(`Provider produced invalid plan for ${address}`, planProblems(rs.block, nul, cfg, again.planned));
          changes.push({ address, type, action: "replace", prior, planned: again.planned, config: cfg, requiresReplace: replacePaths, private: again.private });
          continue;
        }
        const same = !prior.isNull() && res.planned.isWhollyKnown() && rawEquals(res.planned, prior);
        const action: Action = prior.isNull() ? "create" : same ? "no-op" : "update";
        changes.push({ address, type, action, prior, planned: res.planned, config: cfg, requiresReplace: replacePaths, private: res.private });
      }
      return { configuration: config, changes, data, refreshed };
    });
  }

  /** `terraform apply PLAN`: re-plans each change with Terraform's consistency checks, applies it and stores the result. */
  apply(plan: Plan): Promise<void> {
    return this.step("apply", async (p, s) => {
      throwOnErrors("ConfigureProvider", await p.configure(this.configValue(s.provider, plan.configuration.provider, "provider")));
      for (const [address, r] of plan.refreshed) {
        if (r.value.isNull()) this.state.delete(address);
        else this.stored(address, s.resources[typeOf(address)], r.value, r.private);
      }
      // Without references to follow, configuration order stands for dependency order, as
      // Terraform's graph would give it: deletes run dependants first, everything else in order.
      const deletes = plan.changes.filter((c) => c.action === "delete").reverse();
      const ordered = [...deletes, ...plan.changes.filter((c) => c.action !== "delete")];
      for (const change of ordered) {
        const rs = s.resources[change.type];
        const nul = CtyValue.nullOf(rs.type);
        if (change.action === "no-op") continue;
        if (change.action === "delete" || change.action === "replace") {
          const res = await p.applyResourceChange(change.type, change.prior, nul, nul, change.action === "delete" ? change.private : Buffer.alloc(0));
          if (!res.state.isNull()) this.stored(change.address, rs, res.state, res.private);
          else this.state.delete(change.address);
          throwOnErrors(`ApplyResourceChange ${change.address} (delete)`, res.diagnostics);
          check(`Provider returned invalid result object after apply (${change.address})`, res.state.isNull() ? [] : ["a destroyed object was returned as non-null"]);
          if (change.action === "delete") continue;
        }
        const prior = change.action === "replace" ? nul : change.prior;
        // During apply Terraform plans again with the final configuration and insists the plan did not move.
        const again = await p.planResourceChange(change.type, prior, proposedNewState(rs.block, prior, change.config), change.config, change.action === "replace" ? Buffer.alloc(0) : (plan.refreshed.get(change.address)?.private ?? Buffer.alloc(0)));
        throwOnErrors(`PlanResourceChange ${change.address} (apply)`, again.diagnostics);
        check(`Provider produced invalid plan for ${change.address}`, planProblems(rs.block, prior, change.config, again.planned));
        check(`Provider produced inconsistent final plan for ${change.address}`, compatibilityProblems(change.planned, again.planned));
        const res = await p.applyResourceChange(change.type, prior, again.planned, change.config, again.private);
        if (!res.state.isNull()) this.stored(change.address, rs, res.state, res.private);
        throwOnErrors(`ApplyResourceChange ${change.address}`, res.diagnostics);
        check(`Provider returned invalid result object after apply (${change.address})`, [
          ...(res.state.isNull() ? ["the new object is null"] : []),
          ...unknownProblems(res.state),
        ]);
        check(`Provider produced inconsistent result after apply (${change.address})`, compatibilityProblems(again.planned, res.state));
      }
    });
  }

  /** validate, plan and apply a configuration; throws DiagnosticsError or CoreCheckError on problems. */
  async applyConfig(config: Configuration): Promise<Plan> {
    throwOnErrors("validate", await this.validate(config));
    const plan = await this.plan(config);
    await this.apply(plan);
    return plan;
  }

  /** `terraform destroy`: plan -destroy and apply it. */
  async destroy(config: Configuration): Promise<Plan> {
    const plan = await this.plan(config, { destroy: true });
    await this.apply(plan);
    return plan;
  }

  /** `terraform import ADDRESS ID`: ImportResourceState then ReadResource, storing the result. */
  importResource(config: Configuration, address: string, id: string): Promise<void> {
    return this.step("import", async (p, s) => {
      throwOnErrors("ConfigureProvider", await p.configure(this.configValue(s.provider, config.provider, "provider")));
      const type = typeOf(address);
      const res = await p.importResourceState(type, id);
      throwOnErrors(`ImportResourceState ${address}`, res.diagnostics);
      const mine = res.imported.filter((r) => r.typeName === type);
      check(`Provider returned an invalid import for ${address}`, mine.length === 1 ? [] : [`expected one ${type}, got ${res.imported.map((r) => r.typeName).join(", ") || "none"}`]);
      const read = await p.readResource(type, mine[0].state, mine[0].private);
      throwOnErrors(`ReadResource ${address}`, read.diagnostics);
      check(`Cannot import non-existent remote object (${address} ${id})`, read.state.isNull() ? ["the provider found nothing with this id"] : []);
      check(`Provider produced invalid object (ReadResource ${address})`, unknownProblems(read.state));
      this.stored(address, s.resources[type], read.state, read.private);
    });
  }
}

/** The path of a diagnostic as a field string (`datastore_ids[1]`), for assertions. */
export function diagnosticField(d: Diagnostic): string | undefined {
  return d.path ? formatPath(d.path) : undefined;
}
