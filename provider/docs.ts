/**
 * Reference docs for the Terraform provider, generated from its schema plus the examples in
 * examples/terraform/{resources,data-sources}/<type>/ (resource.tf or data-source.tf, and
 * import.sh), one Markdown page per resource and data source.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { providerSchemaJson, type JsonBlock } from "./schema-json";
import { clonefleetProvider } from "./provider";

/** Writes docs/resources/*.md and docs/data-sources/*.md under `root`; returns the files written. */
export function writeProviderDocs(root: string): string[] {
  const schema = Object.values(providerSchemaJson(clonefleetProvider).provider_schemas)[0];
  const written: string[] = [];
  const pages: [string, string, Record<string, { block: JsonBlock }>][] = [
    ["resources", "resource", schema.resource_schemas ?? {}],
    ["data-sources", "data-source", schema.data_source_schemas ?? {}],
  ];
  for (const [folder, exampleName, schemas] of pages) {
    const outDir = path.join(root, "docs", folder);
    fs.mkdirSync(outDir, { recursive: true });
    for (const [type, s] of Object.entries(schemas)) {
      const exampleDir = path.join(root, "examples", "terraform", folder, type);
      const file = path.join(outDir, `${type.replace(/^clonefleet_/, "")}.md`);
      fs.writeFileSync(file, renderPage(type, folder === "resources" ? "resource" : "data source", s.block, exampleDir, exampleName));
      written.push(file);
    }
  }
  return written;
}

function renderPage(type: string, kind: string, block: JsonBlock, exampleDir: string, exampleName: string): string {
  const lines = [`# ${type} (${kind})`, "", block.description ?? "", ""];
  const example = readIfExists(path.join(exampleDir, `${exampleName}.tf`));
  if (example) lines.push("## Example", "", "```hcl", example.trimEnd(), "```", "");
  const attrs = Object.entries(block.attributes ?? {});
  const section = (title: string, pick: (a: (typeof attrs)[number][1]) => boolean) => {
    const chosen = attrs.filter(([, a]) => pick(a));
    if (chosen.length === 0) return;
    lines.push(`## ${title}`, "");
    for (const [name, a] of chosen) {
      const flags = [a.sensitive ? "sensitive" : "", a.optional && a.computed ? "a default applies when unset" : ""].filter(Boolean).join(", ");
      lines.push(`- \`${name}\` (${typeText(a.type)}${flags ? `, ${flags}` : ""}) — ${a.description ?? ""}`);
    }
    lines.push("");
  };
  section("Required", (a) => Boolean(a.required));
  section("Optional", (a) => Boolean(a.optional));
  section("Read-only", (a) => Boolean(a.computed) && !a.optional);
  if (block.block_types?.timeouts) {
    lines.push("## Timeouts", "", "A `timeouts` block sets how long Terraform waits for the engine's job, as durations such as `20m`:", "");
    for (const name of Object.keys(block.block_types.timeouts.block.attributes ?? {})) lines.push(`- \`${name}\``);
    lines.push("");
  }
  const importSh = readIfExists(path.join(exampleDir, "import.sh"));
  if (importSh) lines.push("## Import", "", "```sh", importSh.trimEnd(), "```", "");
  return `${lines.join("\n").trimEnd()}\n`;
}

function typeText(t: unknown): string {
  if (typeof t === "string") return t;
  if (Array.isArray(t) && t[0] === "object") return "object";
  if (Array.isArray(t)) return `${t[0]} of ${typeText(t[1])}`;
  return JSON.stringify(t);
}

function readIfExists(file: string): string | null {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
}
