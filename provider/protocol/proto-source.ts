/**
 * The .proto files the protocol is written in (Terraform's tfplugin6, gRPC health, go-plugin's
 * services) and their parse into the JSON descriptor that proto.ts loads at run time. Parsing
 * .proto text costs a provider process a noticeable part of its start, so `npm run generate`
 * does it once and commits provider/protocol/descriptor.json; a test keeps the two in step.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as protobuf from "protobufjs";
import { PROJECT_ROOT } from "../../engine/version";

/** The proto files, in provider/protocol/ of the source tree. */
export const PROTO_FILES = ["tfplugin6.proto", "grpc_health_v1.proto", "go_plugin.proto"] as const;

/** The folder holding the .proto files and the descriptor. */
export const PROTO_DIR = path.join(PROJECT_ROOT, "provider", "protocol");

/** The generated descriptor proto.ts imports. */
export const DESCRIPTOR_FILE = path.join(PROTO_DIR, "descriptor.json");

/**
 * Parses the .proto files as @grpc/proto-loader does (field names as written), resolving
 * google/protobuf/* from protobufjs's bundled copies; throws on a missing or invalid file.
 */
export function parseProtoFiles(dir: string = PROTO_DIR): protobuf.Root {
  const root = new protobuf.Root();
  const files = PROTO_FILES.map((f) => path.join(dir, f));
  for (const f of files) if (!fs.existsSync(f)) throw new Error(`cannot find ${f}`);
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

/** The descriptor's text as `npm run generate` writes it. */
export function descriptorText(root: protobuf.Root = parseProtoFiles()): string {
  return JSON.stringify(root.toJSON({ keepComments: false }), null, 1) + "\n";
}
