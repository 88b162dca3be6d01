/**
 * Drives the Pulumi SDK's own dynamic-provider gRPC server the way the Pulumi engine does:
 * a project folder whose node_modules hold `clonefleet` and `@pulumi/pulumi`, the SDK's
 * `pulumi-resource-pulumi-nodejs` launcher started there with an engine address, the port read
 * from its stdout, and ResourceProvider calls carrying the serialized provider in `__provider`.
 */
import * as grpc from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as engrpc from "@pulumi/pulumi/proto/engine_grpc_pb";
import * as engproto from "@pulumi/pulumi/proto/engine_pb";
import * as provrpc from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import * as ts from "typescript";

/** The checkout this test runs from. */
export const REPO_ROOT = path.resolve(__dirname, "../../..");

type Props = Record<string, unknown>;

/** The provider text as `dynamic.Resource` makes it: `serializeFunction(() => provider, { allowSecrets: true })`. */
export async function serializeProvider(provider: pulumi.dynamic.ResourceProvider): Promise<pulumi.runtime.SerializedFunction> {
  return pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
}

/**
 * A temp folder laid out like a Pulumi project that depends on clonefleet: `project/` with
 * `node_modules/clonefleet` (this checkout's provider runtime, transpiled now so it matches the
 * sources) and `node_modules/@pulumi` (the installed SDK). `bare/` has only the SDK.
 */
export interface ProjectDirs {
  root: string;
  project: string;
  bare: string;
  remove(): Promise<void>;
}

/** Lays out the project folders; the caller removes them with `remove()`. */
export async function makeProjectDirs(): Promise<ProjectDirs> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), "cf-pulumi-"));
  const pkg = path.join(root, "clonefleet");
  await transpileGraph(path.join(REPO_ROOT, "pulumi/provider-runtime.ts"), pkg);
  await fs.symlink(path.join(REPO_ROOT, "node_modules"), path.join(pkg, "node_modules"));
  const project = path.join(root, "project");
  const bare = path.join(root, "bare");
  for (const dir of [project, bare]) {
    await fs.mkdir(path.join(dir, "node_modules"), { recursive: true });
    await fs.symlink(path.join(REPO_ROOT, "node_modules/@pulumi"), path.join(dir, "node_modules/@pulumi"));
    await fs.writeFile(path.join(dir, "package.json"), JSON.stringify({ name: path.basename(dir), private: true }));
  }
  await fs.symlink(pkg, path.join(project, "node_modules/clonefleet"));
  return { root, project, bare, remove: () => fs.rm(root, { recursive: true, force: true }) };
}

/**
 * Transpiles `entry` and every relative module it requires into `<pkg>/dist/<path from repo>.js`,
 * the layout `npm run build` gives, so `clonefleet/dist/pulumi/provider-runtime` resolves.
 */
async function transpileGraph(entry: string, pkg: string): Promise<void> {
  const queue = [entry];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const out = ts.transpileModule(await fs.readFile(file, "utf8"), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const dest = path.join(pkg, "dist", path.relative(REPO_ROOT, file).replace(/\.ts$/, ".js"));
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.writeFile(dest, out);
    for (const m of out.matchAll(/require\("(\.\.?\/[^"]+)"\)/g)) queue.push(await resolveTs(path.dirname(file), m[1]));
  }
}

async function resolveTs(dir: string, spec: string): Promise<string> {
  const base = path.resolve(dir, spec);
  for (const candidate of [`${base}.ts`, path.join(base, "index.ts")]) {
    if (await fs.stat(candidate).then((s) => s.isFile(), () => false)) return candidate;
  }
  throw new Error(`cannot resolve ${spec} from ${dir}`);
}

/** A stand-in for the Pulumi engine's `pulumirpc.Engine` service (the address plugins are given); it records Log calls. */
export interface EngineStub {
  address: string;
  logs: { severity: number; message: string }[];
  stop(): Promise<void>;
}

/** Starts the Engine stub on loopback. */
export async function startEngineStub(): Promise<EngineStub> {
  const logs: EngineStub["logs"] = [];
  const server = new grpc.Server();
  const impl: engrpc.IEngineServer = {
    log: (call, cb) => {
      logs.push({ severity: call.request.getSeverity(), message: call.request.getMessage() });
      cb(null, new Empty());
    },
    getRootResource: (_call, cb) => cb(null, new engproto.GetRootResourceResponse()),
    setRootResource: (_call, cb) => cb(null, new engproto.SetRootResourceResponse()),
    startDebugging: (_call, cb) => cb(null, new Empty()),
    requirePulumiVersion: (_call, cb) => cb(null, new engproto.RequirePulumiVersionResponse()),
  };
  server.addService(engrpc.EngineService, impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    logs,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** A gRPC error answered by the provider server: the status code and its details text. */
export class ProviderCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(details);
    this.name = "ProviderCallError";
  }
}

/** A running dynamic-provider server process and a ResourceProvider client connected to it. */
export class DynamicProviderProcess {
  private constructor(
    private readonly child: ChildProcess,
    private readonly client: provrpc.ResourceProviderClient,
    readonly port: number,
    private readonly log: { stderr: string },
  ) {}

  /**
   * Starts the SDK's launcher script `pulumi-resource-pulumi-nodejs <engine address>` in `cwd`
   * (it resolves `@pulumi/pulumi/cmd/dynamic-provider` from there, as the Pulumi CLI's copy does),
   * reads the port from the first stdout line and connects on loopback.
   */
  static async launch(cwd: string, engineAddress: string): Promise<DynamicProviderProcess> {
    const launcher = path.join(REPO_ROOT, "node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs");
    // Its own process group: the launcher is a shell script whose node child must stop with it.
    const child = spawn("/bin/sh", [launcher, engineAddress], { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const log = { stderr: "" };
    child.stderr!.on("data", (b: Buffer) => (log.stderr += b.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`no port from the dynamic provider within 30 s; stderr: ${log.stderr}`)), 30_000);
      child.stdout!.on("data", (b: Buffer) => {
        out += b.toString();
        const m = /^(\d+)\r?\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the dynamic provider exited with ${code} before printing its port; stderr: ${log.stderr}`));
      });
    });
    const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return new DynamicProviderProcess(child, client, port, log);
  }

  /** Everything the server wrote to stderr so far. */
  get stderr(): string {
    return this.log.stderr;
  }

  /** GetPluginInfo: the SDK version the server reports. */
  async pluginVersion(): Promise<string> {
    const res = await this.unary<Empty, { getVersion(): string }>("getPluginInfo", new Empty());
    return res.getVersion();
  }

  /** Configure with the stack config as args, as the engine does before any resource call. */
  async configure(config: Props = {}): Promise<boolean> {
    const req = new provproto.ConfigureRequest();
    req.setArgs(toStruct(config));
    req.setAcceptsecrets(true);
    req.setAcceptresources(true);
    const res = await this.unary<provproto.ConfigureRequest, provproto.ConfigureResponse>("configure", req);
    return res.getAcceptsecrets();
  }

  /** Check: the provider's inputs and failures. */
  async check(urn: string, olds: Props, news: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }> {
    const req = new provproto.CheckRequest();
    req.setUrn(urn);
    req.setName(nameOf(urn));
    req.setType(typeOf(urn));
    req.setOlds(toStruct(olds));
    req.setNews(toStruct(news));
    const res = await this.unary<provproto.CheckRequest, provproto.CheckResponse>("check", req);
    return {
      inputs: fromStruct(res.getInputs()),
      failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
    };
  }

  /** Diff between old outputs and new inputs. */
  async diff(
    urn: string,
    id: string,
    olds: Props,
    news: Props,
  ): Promise<{ changes: "unknown" | "none" | "some"; replaces: string[]; deleteBeforeReplace: boolean }> {
    const req = new provproto.DiffRequest();
    req.setUrn(urn);
    req.setName(nameOf(urn));
    req.setType(typeOf(urn));
    req.setId(id);
    req.setOlds(toStruct(olds));
    req.setNews(toStruct(news));
    const res = await this.unary<provproto.DiffRequest, provproto.DiffResponse>("diff", req);
    const C = provproto.DiffResponse.DiffChanges;
    const changes = res.getChanges() === C.DIFF_NONE ? "none" : res.getChanges() === C.DIFF_SOME ? "some" : "unknown";
    return { changes, replaces: res.getReplacesList(), deleteBeforeReplace: res.getDeletebeforereplace() };
  }

  /** Create: the new id and output properties. */
  async create(urn: string, properties: Props): Promise<{ id: string; properties: Props }> {
    const req = new provproto.CreateRequest();
    req.setUrn(urn);
    req.setName(nameOf(urn));
    req.setType(typeOf(urn));
    req.setProperties(toStruct(properties));
    req.setTimeout(600);
    const res = await this.unary<provproto.CreateRequest, provproto.CreateResponse>("create", req);
    return { id: res.getId(), properties: fromStruct(res.getProperties()) };
  }

  /** Read (refresh, import): an empty id means the resource is gone. */
  async read(urn: string, id: string, properties: Props, inputs?: Props): Promise<{ id: string; properties: Props; inputs: Props | null }> {
    const req = new provproto.ReadRequest();
    req.setUrn(urn);
    req.setName(nameOf(urn));
    req.setType(typeOf(urn));
    req.setId(id);
    req.setProperties(toStruct(properties));
    if (inputs) req.setInputs(toStruct(inputs));
    const res = await this.unary<provproto.ReadRequest, provproto.ReadResponse>("read", req);
    return { id: res.getId(), properties: fromStruct(res.getProperties()), inputs: res.hasInputs() ? fromStruct(res.getInputs()) : null };
  }

  /** Update in place: the new output properties. */
  async update(urn: string, id: string, olds: Props, news: Props): Promise<Props> {
    const req = new provproto.UpdateRequest();
    req.setUrn(urn);
    req.setName(nameOf(urn));
    req.setType(typeOf(urn));
    req.setId(id);
    req.setOlds(toStruct(olds));
    req.setNews(toStruct(news));
    req.setTimeout(600);
    const res = await this.unary<provproto.UpdateRequest, provproto.UpdateResponse>("update", req);
    return fromStruct(res.getProperties());
  }

  /** Delete. */
  async delete(urn: string, id: string, properties: Props): Promise<void> {
    const req = new provproto.DeleteRequest();
    req.setUrn(urn);
    req.setName(nameOf(urn));
    req.setType(typeOf(urn));
    req.setId(id);
    req.setProperties(toStruct(properties));
    req.setTimeout(600);
    await this.unary<provproto.DeleteRequest, Empty>("delete", req);
  }

  /** Closes the client and stops the launcher's process group; resolves once it exited. */
  async stop(): Promise<void> {
    this.client.close();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    signalGroup(this.child.pid!, "SIGTERM");
    const timer = setTimeout(() => signalGroup(this.child.pid!, "SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  private unary<Req, Res>(method: string, req: Req): Promise<Res> {
    const fn = (this.client as unknown as Record<string, (r: Req, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>)[method];
    return new Promise<Res>((resolve, reject) =>
      fn.call(this.client, req, (err, res) => (err ? reject(new ProviderCallError(err.code, err.details)) : resolve(res))),
    );
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** A URN as the engine writes it for a clonefleet dynamic resource. */
export function urnOf(type: "Datastore" | "Template" | "Replica" | "DiskPool" | "Vm" | "Fleet" | "Snapshot" | "InstantCloneParent", name: string): string {
  return `urn:pulumi:test::clonefleet-test::pulumi-nodejs:dynamic/clonefleet:${type}::${name}`;
}

function nameOf(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

function typeOf(urn: string): string {
  return urn.split("::")[2];
}

function toStruct(obj: Props): Struct {
  // Undefined has no protobuf form; the engine never sends it.
  return Struct.fromJavaScript(JSON.parse(JSON.stringify(obj)));
}

function fromStruct(s: Struct | undefined): Props {
  return (s?.toJavaScript() ?? {}) as Props;
}
