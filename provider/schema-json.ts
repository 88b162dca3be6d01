/**
 * The provider schema in the exact JSON shape `terraform providers schema -json` prints
 * (format 1.0): the input of the CDKTF generator and of the docs. Keys follow Terraform's
 * order (struct fields as declared, maps sorted), empty parts are left out as Terraform does,
 * and strings are escaped as Go's encoding/json escapes them.
 */
import * as fs from "node:fs";
import { AttributeSpec, isComputed } from "./framework/attributes";
import { Provider } from "./framework/define";
import { BlockSchema, TIMEOUTS_BLOCK, timeoutsAttributes } from "./framework/schema";
import { sortedKeys, typeToJson } from "./protocol/cty";

/** The provider's address in the public registry, the key Terraform uses in the JSON. */
export const PROVIDER_SOURCE = "registry.terraform.io/clonefleet/clonefleet";

/** One attribute in `providers schema -json` form. */
export interface JsonAttribute {
  type: unknown;
  description?: string;
  description_kind: "plain";
  deprecated?: true;
  required?: true;
  optional?: true;
  computed?: true;
  sensitive?: true;
}

/** One block in `providers schema -json` form. */
export interface JsonBlock {
  attributes?: Record<string, JsonAttribute>;
  block_types?: Record<string, { nesting_mode: string; block: JsonBlock }>;
  description?: string;
  description_kind: "plain";
}

/** A versioned schema in `providers schema -json` form. */
export interface JsonSchema {
  version: number;
  block: JsonBlock;
}

/** The whole document. */
export interface ProviderSchemasJson {
  format_version: "1.0";
  provider_schemas: Record<string, { provider: JsonSchema; resource_schemas?: Record<string, JsonSchema>; data_source_schemas?: Record<string, JsonSchema> }>;
}

function jsonAttribute(spec: AttributeSpec): JsonAttribute {
  // Insertion order is the order Terraform's struct declares its fields.
  const out = { type: JSON.parse(typeToJson(spec.type)) } as JsonAttribute;
  if (spec.description) out.description = spec.description;
  out.description_kind = "plain";
  if (spec.deprecated) out.deprecated = true;
  if (spec.mode === "required") out.required = true;
  if (spec.mode === "optional" || spec.mode === "optionalComputed") out.optional = true;
  if (isComputed(spec)) out.computed = true;
  if (spec.sensitive) out.sensitive = true;
  return out;
}

function jsonBlock(attrs: { readonly [name: string]: AttributeSpec }, description: string, nested?: Record<string, { nesting_mode: string; block: JsonBlock }>): JsonBlock {
  const names = sortedKeys(attrs);
  const out: Partial<JsonBlock> = {};
  if (names.length > 0) out.attributes = Object.fromEntries(names.map((n) => [n, jsonAttribute(attrs[n])]));
  if (nested && Object.keys(nested).length > 0) out.block_types = nested;
  if (description) out.description = description;
  out.description_kind = "plain";
  return out as JsonBlock;
}

function jsonSchema(schema: BlockSchema): JsonSchema {
  const nested = schema.timeouts
    ? { [TIMEOUTS_BLOCK]: { nesting_mode: "single", block: jsonBlock(timeoutsAttributes(schema.timeouts), "Time limits for long operations.") } }
    : undefined;
  return { version: schema.version, block: jsonBlock(schema.attributes, schema.description, nested) };
}

/** Builds the `providers schema -json` document for a provider definition. */
export function providerSchemaJson<Config, Client>(provider: Provider<Config, Client>, source: string = PROVIDER_SOURCE): ProviderSchemasJson {
  const resources = [...provider.resources].sort((a, b) => (a.typeName < b.typeName ? -1 : 1));
  const dataSources = [...(provider.dataSources ?? [])].sort((a, b) => (a.typeName < b.typeName ? -1 : 1));
  const entry: ProviderSchemasJson["provider_schemas"][string] = { provider: jsonSchema(provider.schema) };
  if (resources.length > 0) entry.resource_schemas = Object.fromEntries(resources.map((r) => [r.typeName, jsonSchema(r.schema)]));
  if (dataSources.length > 0) entry.data_source_schemas = Object.fromEntries(dataSources.map((d) => [d.typeName, jsonSchema(d.schema)]));
  return { format_version: "1.0", provider_schemas: { [source]: entry } };
}

/** Serializes the document as Terraform does: compact, with Go's escaping of <, > and &. */
export function providerSchemaJsonText<Config, Client>(provider: Provider<Config, Client>, source: string = PROVIDER_SOURCE): string {
  // These characters occur only inside strings in JSON text, so escaping them everywhere is safe.
  return JSON.stringify(providerSchemaJson(provider, source)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Writes the document to a file (with a final newline, as the CLI prints it); throws on I/O errors. */
export function writeProviderSchemaJson<Config, Client>(provider: Provider<Config, Client>, file: string, source: string = PROVIDER_SOURCE): void {
  fs.writeFileSync(file, providerSchemaJsonText(provider, source) + "\n");
}
