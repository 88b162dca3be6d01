import { computed, defineDataSource, defineProvider, defineResource, optional, required, timeouts } from "./framework";
import { PROVIDER_SOURCE, providerSchemaJson, providerSchemaJsonText } from "./schema-json";

const thing = defineResource<{ id: string; name: string; tags: Record<string, string> | null }>({
  typeName: "example_thing",
  description: "A <thing> & more.",
  attributes: {
    id: computed("string", { description: "Id.", keepPrior: true }),
    name: required("string", { description: "Name.", replace: true }),
    tags: optional(["map", "string"], { description: "Tags.", replace: true }),
  },
  blocks: { timeouts: timeouts({ create: "20m" }) },
  create: async () => ({}),
  read: async () => null,
  delete: async () => undefined,
});
const info = defineDataSource<{ id: string }>({
  typeName: "example_info",
  description: "",
  attributes: { id: required("string", { description: "Id." }) },
  read: async () => ({}),
});
const provider = defineProvider<{ token: string | null }, unknown>({
  typeName: "example",
  attributes: { token: optional("string", { description: "Token.", sensitive: true }) },
  configure: () => undefined,
  resources: [thing],
  dataSources: [info],
});

describe("providers schema -json", () => {
  test("has Terraform's shape: format 1.0, keyed by source, true flags only", () => {
    const doc = providerSchemaJson(provider);
    expect(doc.format_version).toBe("1.0");
    const entry = doc.provider_schemas[PROVIDER_SOURCE];
    expect(entry.provider.block.attributes!.token).toEqual({ type: "string", description: "Token.", description_kind: "plain", optional: true, sensitive: true });
    expect(entry.resource_schemas!.example_thing.block.attributes!.id).toEqual({ type: "string", description: "Id.", description_kind: "plain", computed: true });
    expect(entry.resource_schemas!.example_thing.block.attributes!.tags.type).toEqual(["map", "string"]);
    expect(entry.resource_schemas!.example_thing.block.block_types!.timeouts.nesting_mode).toBe("single");
    expect(entry.data_source_schemas!.example_info.block).toEqual({
      attributes: { id: { type: "string", description: "Id.", description_kind: "plain", required: true } },
      description_kind: "plain",
    });
  });

  test("is serialized with Go's key order and escaping", () => {
    const text = providerSchemaJsonText(provider);
    expect(text.startsWith('{"format_version":"1.0","provider_schemas":{"registry.terraform.io/clonefleet/clonefleet":{"provider":{"version":0,"block":')).toBe(true);
    expect(text).toContain('"description":"A \\u003cthing\\u003e \\u0026 more."');
    expect(text.indexOf('"resource_schemas"')).toBeLessThan(text.indexOf('"data_source_schemas"'));
  });
});
