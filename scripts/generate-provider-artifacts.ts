/**
 * `npm run generate`: writes what is derived from the Terraform provider's schema — the schema
 * itself as `terraform providers schema -json` prints it (provider/schema.json), the CDKTF
 * bindings (provider/cdktf/gen/) and the reference docs (docs/resources, docs/data-sources);
 * and the protocol's JSON descriptor parsed from its .proto files (provider/protocol/descriptor.json).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { writeProviderSchemaJson } from "../provider/schema-json";
import { clonefleetProvider } from "../provider/provider";
import { bindingsDir, generateBindings } from "../provider/cdktf/generate";
import { writeProviderDocs } from "../provider/docs";
import { PROJECT_ROOT } from "../engine/version";
import { DESCRIPTOR_FILE, descriptorText } from "../provider/protocol/proto-source";

async function main(): Promise<void> {
  const schemaFile = path.join(PROJECT_ROOT, "provider", "schema.json");
  writeProviderSchemaJson(clonefleetProvider, schemaFile);
  console.log(`wrote ${path.relative(PROJECT_ROOT, schemaFile)}`);
  await generateBindings(bindingsDir(PROJECT_ROOT));
  console.log(`wrote ${path.relative(PROJECT_ROOT, bindingsDir(PROJECT_ROOT))}/`);
  for (const f of writeProviderDocs(PROJECT_ROOT)) console.log(`wrote ${path.relative(PROJECT_ROOT, f)}`);
  fs.writeFileSync(DESCRIPTOR_FILE, descriptorText());
  console.log(`wrote ${path.relative(PROJECT_ROOT, DESCRIPTOR_FILE)}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
