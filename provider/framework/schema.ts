/**
 * A configuration block's schema (provider, resource or data source): its attributes, the
 * optional `timeouts` block, the cty object type values of it have, and its protocol form.
 */
import { CtyType, sortedKeys, typeToJson } from "../protocol/cty";
import { AttributeSpec, isComputed, optional } from "./attributes";
import { TimeoutsSpec, timeoutOperations } from "./timeouts";

/** The name of the nested block holding operation timeouts. */
export const TIMEOUTS_BLOCK = "timeouts";

/** A block's schema as the framework uses it. */
export interface BlockSchema {
  readonly description: string;
  readonly version: number;
  readonly attributes: { readonly [name: string]: AttributeSpec };
  readonly timeouts?: TimeoutsSpec;
}

/** The optional string attributes of a timeouts block, one per covered operation. */
export function timeoutsAttributes(spec: TimeoutsSpec): Record<string, AttributeSpec> {
  const out: Record<string, AttributeSpec> = {};
  for (const op of timeoutOperations(spec)) {
    out[op] = optional("string", {
      description: `How long to wait for ${op} before giving up, as a duration such as "30s", "20m" or "1h" (default ${spec.defaults[op]}).`,
    });
  }
  return out;
}

function attributesType(attrs: { readonly [name: string]: AttributeSpec }): CtyType {
  const types: Record<string, CtyType> = {};
  for (const [name, spec] of Object.entries(attrs)) types[name] = spec.type;
  return ["object", types];
}

/** The type of a timeouts block value. */
export function timeoutsType(spec: TimeoutsSpec): CtyType {
  return attributesType(timeoutsAttributes(spec));
}

/** The cty object type of a block's values (attributes plus a `timeouts` object when declared). */
export function blockType(schema: BlockSchema): CtyType {
  const types: Record<string, CtyType> = {};
  for (const [name, spec] of Object.entries(schema.attributes)) types[name] = spec.type;
  if (schema.timeouts) types[TIMEOUTS_BLOCK] = timeoutsType(schema.timeouts);
  return ["object", types];
}

function protoAttribute(name: string, spec: AttributeSpec) {
  return {
    name,
    type: Buffer.from(typeToJson(spec.type), "utf8"),
    description: spec.description,
    description_kind: "PLAIN",
    required: spec.mode === "required",
    optional: spec.mode === "optional" || spec.mode === "optionalComputed",
    computed: isComputed(spec),
    sensitive: spec.sensitive,
    deprecated: spec.deprecated,
    write_only: false,
  };
}

function protoAttributes(attrs: { readonly [name: string]: AttributeSpec }) {
  return sortedKeys(attrs).map((name) => protoAttribute(name, attrs[name]));
}

/** The tfplugin6.Schema message (as a grpc-js object) for a block. */
export function toProtoSchema(schema: BlockSchema) {
  const blockTypes = schema.timeouts
    ? [
        {
          type_name: TIMEOUTS_BLOCK,
          nesting: "SINGLE",
          min_items: 0,
          max_items: 0,
          block: {
            version: 0,
            attributes: protoAttributes(timeoutsAttributes(schema.timeouts)),
            block_types: [],
            description: "Time limits for long operations.",
            description_kind: "PLAIN",
            deprecated: false,
          },
        },
      ]
    : [];
  return {
    version: schema.version,
    block: {
      version: schema.version,
      attributes: protoAttributes(schema.attributes),
      block_types: blockTypes,
      description: schema.description,
      description_kind: "PLAIN",
      deprecated: false,
    },
  };
}
