/**
 * The protocol's gRPC services, built from the JSON descriptor of our .proto files
 * (descriptor.json, generated from them by `npm run generate`, see proto-source.ts). Only
 * protobufjs's light build runs here: no .proto parsing and no @grpc/proto-loader, which
 * together were a large part of a provider's start. Values map to JS as proto-loader maps
 * them with our options: field names as written, int64 as number, bytes as Buffer, enums as
 * names, defaults filled in, the set member of a oneof named in a virtual field.
 */
import * as grpc from "@grpc/grpc-js";
import * as protobuf from "protobufjs/light";
import descriptor from "./descriptor.json";

/** How decoded messages are turned into plain objects. */
export const CONVERSION_OPTIONS: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/** The loaded services, as grpc-js service definitions and client constructors. */
export interface Protocol {
  provider: grpc.ServiceClientConstructor;
  health: grpc.ServiceClientConstructor;
  controller: grpc.ServiceClientConstructor;
  stdio: grpc.ServiceClientConstructor;
  broker: grpc.ServiceClientConstructor;
}

function serializer(type: () => protobuf.Type): (value: object) => Buffer {
  return (value) => {
    const t = type();
    if (Array.isArray(value)) throw new Error(`cannot serialize an array as ${t.fullName.slice(1)}`);
    return Buffer.from(t.encode(t.fromObject(value)).finish());
  };
}

function deserializer(type: () => protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => {
    const t = type();
    return t.toObject(t.decode(bytes), CONVERSION_OPTIONS);
  };
}

/** A method as the descriptor JSON states it. */
interface MethodJson {
  requestType: string;
  responseType: string;
  requestStream?: boolean;
  responseStream?: boolean;
}

/**
 * A grpc-js service definition for one service of the descriptor: a method per rpc, path
 * /package.Service/Method. The paths come from the JSON alone; the message types are built on
 * the first message, so that a process prints its handshake without building every type of
 * the protocol (most of what loading the protocol costs).
 */
export function serviceDefinition(fullName: string, root: () => protobuf.Root): grpc.ServiceDefinition {
  let node = descriptor as unknown as protobuf.INamespace;
  for (const part of fullName.split(".")) node = node.nested![part] as protobuf.INamespace;
  const methods = (node as unknown as { methods: Record<string, MethodJson> }).methods;
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const [name, m] of Object.entries(methods)) {
    let resolved: protobuf.Method | undefined;
    const method = () => (resolved ??= root().lookupService(fullName).methods[name].resolve() as protobuf.Method);
    const req = () => method().resolvedRequestType!;
    const res = () => method().resolvedResponseType!;
    def[name] = {
      path: `/${fullName}/${name}`,
      requestStream: Boolean(m.requestStream),
      responseStream: Boolean(m.responseStream),
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      // Clients get a lowerCamel alias of each method too, as with proto-loader.
      originalName: name.charAt(0).toLowerCase() + name.slice(1),
    };
  }
  return def;
}

let loaded: Protocol | undefined;

/** Builds the protocol's services once per process (their message types on first use). */
export function loadProtocol(): Protocol {
  if (loaded) return loaded;
  let root: protobuf.Root | undefined;
  const lazyRoot = () => (root ??= protobuf.Root.fromJSON(descriptor as protobuf.INamespace));
  const client = (fullName: string) => grpc.makeGenericClientConstructor(serviceDefinition(fullName, lazyRoot), fullName);
  loaded = {
    provider: client("tfplugin6.Provider"),
    health: client("grpc.health.v1.Health"),
    controller: client("plugin.GRPCController"),
    stdio: client("plugin.GRPCStdio"),
    broker: client("plugin.GRPCBroker"),
  };
  return loaded;
}
