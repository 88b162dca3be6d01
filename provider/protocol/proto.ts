/**
 * Loads our .proto files (Terraform's tfplugin6, gRPC health, go-plugin's services) at run time
 * with @grpc/proto-loader. The files live beside this module in the source tree; compiled code
 * under dist/ finds them by walking up to the project root.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** The proto files this module loads, relative to the directory holding them. */
export const PROTO_FILES = ["tfplugin6.proto", "grpc_health_v1.proto", "go_plugin.proto"] as const;

/** How values map to JS: field names as written, int64 as number, bytes as Buffer, enums as names. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/** The directory holding the .proto files; throws when the source tree is not next to the code. */
export function protoDir(): string {
  if (fs.existsSync(path.join(__dirname, PROTO_FILES[0]))) return __dirname;
  // Compiled code sits at <root>/dist/provider/protocol; the protos stay at <root>/provider/protocol.
  for (let dir = __dirname; ; ) {
    if (fs.existsSync(path.join(dir, "package.json"))) {
      const candidate = path.join(dir, "provider", "protocol");
      if (fs.existsSync(path.join(candidate, PROTO_FILES[0]))) return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`cannot find ${PROTO_FILES[0]} near ${__dirname}`);
}

/** The loaded services, as grpc-js service definitions and client constructors. */
export interface Protocol {
  provider: grpc.ServiceClientConstructor;
  health: grpc.ServiceClientConstructor;
  controller: grpc.ServiceClientConstructor;
  stdio: grpc.ServiceClientConstructor;
  broker: grpc.ServiceClientConstructor;
}

let loaded: Protocol | undefined;

/** Loads the protocol definitions once per process; throws when a .proto is missing or invalid. */
export function loadProtocol(): Protocol {
  if (loaded) return loaded;
  const dir = protoDir();
  const def = protoLoader.loadSync(
    PROTO_FILES.map((f) => path.join(dir, f)),
    { ...LOADER_OPTIONS, includeDirs: [dir] },
  );
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    tfplugin6: { Provider: grpc.ServiceClientConstructor };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    plugin: { GRPCController: grpc.ServiceClientConstructor; GRPCStdio: grpc.ServiceClientConstructor; GRPCBroker: grpc.ServiceClientConstructor };
  };
  loaded = {
    provider: pkg.tfplugin6.Provider,
    health: pkg.grpc.health.v1.Health,
    controller: pkg.plugin.GRPCController,
    stdio: pkg.plugin.GRPCStdio,
    broker: pkg.plugin.GRPCBroker,
  };
  return loaded;
}
