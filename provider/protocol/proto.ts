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

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`cannot serialize an array as ${type.fullName.slice(1)}`);
    return Buffer.from(type.encode(type.fromObject(value)).finish());
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), CONVERSION_OPTIONS);
}

/** A grpc-js service definition for one protobuf service: a method per rpc, path /package.Service/Method. */
export function serviceDefinition(service: protobuf.Service): grpc.ServiceDefinition {
  const name = service.fullName.slice(1);
  const def: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const method of service.methodsArray) {
    method.resolve();
    const req = method.resolvedRequestType!;
    const res = method.resolvedResponseType!;
    def[method.name] = {
      path: `/${name}/${method.name}`,
      requestStream: Boolean(method.requestStream),
      responseStream: Boolean(method.responseStream),
      requestSerialize: serializer(req),
      requestDeserialize: deserializer(req),
      responseSerialize: serializer(res),
      responseDeserialize: deserializer(res),
      // Clients get a lowerCamel alias of each method too, as with proto-loader.
      originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
    };
  }
  return def;
}

let loaded: Protocol | undefined;

/** Builds the protocol's services once per process. */
export function loadProtocol(): Protocol {
  if (loaded) return loaded;
  const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
  const client = (fullName: string) => grpc.makeGenericClientConstructor(serviceDefinition(root.lookupService(fullName)), fullName);
  loaded = {
    provider: client("tfplugin6.Provider"),
    health: client("grpc.health.v1.Health"),
    controller: client("plugin.GRPCController"),
    stdio: client("plugin.GRPCStdio"),
    broker: client("plugin.GRPCBroker"),
  };
  return loaded;
}
