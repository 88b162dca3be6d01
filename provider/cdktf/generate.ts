/**
 * Generates the CDKTF bindings from the provider's schema with CDKTF's own generator
 * (`@cdktf/provider-generator`, which CDK Terrain uses too). The bindings are committed under
 * provider/cdktf/gen/ and never edited by hand; a test fails when they are out of step.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { providerSchemaJson, type ProviderSchemasJson } from "../schema-json";
import { clonefleetProvider } from "../provider";

/** Where the committed bindings live (source tree, whether run from src or dist). */
export function bindingsDir(root: string): string {
  return path.join(root, "provider", "cdktf", "gen");
}

/** Writes the bindings for `schema` into `outDir` (replacing what was there). */
export async function generateBindings(outDir: string, schema: ProviderSchemasJson = providerSchemaJson(clonefleetProvider)): Promise<void> {
  // The package index also loads jsii-pacmak (for other languages); TypeScript needs only these two.
  const { CodeMaker } = require("codemaker") as typeof import("codemaker");
  const { TerraformProviderGenerator } = require("@cdktf/provider-generator/lib/get/generator/provider-generator") as {
    TerraformProviderGenerator: new (code: InstanceType<typeof CodeMaker>, schema: unknown) => { generateAll(): void };
  };
  const code = new CodeMaker();
  new TerraformProviderGenerator(code, schema).generateAll();
  fs.rmSync(outDir, { recursive: true, force: true });
  await code.save(outDir);
}

/** Reads every file under `dir` as relative path → text. */
export function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.set(path.relative(dir, full), fs.readFileSync(full, "utf8"));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out;
}
