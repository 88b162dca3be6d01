import * as fs from "node:fs";
import * as path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { loadProtocol } from "./proto";
import { DESCRIPTOR_FILE, PROTO_DIR, PROTO_FILES, descriptorText } from "./proto-source";

// The provider builds its gRPC services from the generated descriptor; @grpc/proto-loader over
// the .proto files (what the provider used before) is the reference they must match.
const reference = () => {
  const def = protoLoader.loadSync(
    PROTO_FILES.map((f) => path.join(PROTO_DIR, f)),
    { keepCase: true, longs: Number, enums: String, bytes: Buffer, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] },
  );
  return grpc.loadPackageDefinition(def) as unknown as {
    tfplugin6: { Provider: grpc.ServiceClientConstructor };
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    plugin: { GRPCController: grpc.ServiceClientConstructor; GRPCStdio: grpc.ServiceClientConstructor; GRPCBroker: grpc.ServiceClientConstructor };
  };
};

test("provider/protocol/descriptor.json is the parse of the .proto files (run `npm run generate` after editing them)", () => {
  expect(fs.readFileSync(DESCRIPTOR_FILE, "utf8")).toBe(descriptorText());
});

test("every service has proto-loader's methods: paths, streaming and client aliases", () => {
  const ref = reference();
  const ours = loadProtocol();
  const pairs: [grpc.ServiceClientConstructor, grpc.ServiceClientConstructor][] = [
    [ours.provider, ref.tfplugin6.Provider],
    [ours.health, ref.grpc.health.v1.Health],
    [ours.controller, ref.plugin.GRPCController],
    [ours.stdio, ref.plugin.GRPCStdio],
    [ours.broker, ref.plugin.GRPCBroker],
  ];
  for (const [a, b] of pairs) {
    const shape = (s: grpc.ServiceDefinition) =>
      Object.fromEntries(Object.entries(s).map(([n, m]) => [n, [m.path, m.requestStream, m.responseStream, m.originalName]]));
    expect(shape(a.service)).toEqual(shape(b.service));
    expect(Object.keys(a.service).length).toBeGreaterThan(0);
  }
  expect(Object.keys(ours.provider.service)).toEqual(expect.arrayContaining(["GetProviderSchema", "PlanResourceChange", "ApplyResourceChange", "ReadResource"]));
});

test("messages encode to the same bytes and decode to the same objects as with proto-loader", () => {
  const ours = loadProtocol().provider.service;
  const ref = reference().tfplugin6.Provider.service;
  const samples: [string, object, object][] = [
    [
      "PlanResourceChange",
      {
        type_name: "clonefleet_vm",
        prior_state: { msgpack: Buffer.from([0xc0]) },
        proposed_new_state: { msgpack: Buffer.from([0x81, 0xa1, 0x61, 0x01]) },
        client_capabilities: { deferral_allowed: false, write_only_attributes_allowed: true },
      },
      {
        planned_state: { msgpack: Buffer.from([0x80]) },
        requires_replace: [{ steps: [{ attribute_name: "name" }, { element_key_int: 3 }] }],
        diagnostics: [{ severity: "ERROR", summary: "Bad", detail: "name is bad", attribute: { steps: [{ element_key_string: "k" }] } }],
        legacy_type_system: false,
      },
    ],
    ["GetProviderSchema", {}, { server_capabilities: { plan_destroy: true, get_provider_schema_optional: true }, resource_schemas: { a: { version: 2, block: { attributes: [{ name: "id", type: Buffer.from('"string"'), computed: true }] } } } }],
  ];
  for (const [method, req, res] of samples) {
    const a = ours[method];
    const b = ref[method];
    const reqBytes = a.requestSerialize(req);
    expect(reqBytes).toEqual(b.requestSerialize(req));
    expect(a.requestDeserialize(reqBytes)).toEqual(b.requestDeserialize(reqBytes));
    const resBytes = a.responseSerialize(res);
    expect(resBytes).toEqual(b.responseSerialize(res));
    expect(a.responseDeserialize(resBytes)).toEqual(b.responseDeserialize(resBytes));
  }
  expect(() => ours.PlanResourceChange.requestSerialize([] as unknown as object)).toThrow(/cannot serialize an array as tfplugin6.PlanResourceChange.Request/);
});
