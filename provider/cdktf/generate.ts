/**
 * Generates the CDKTF bindings from the provider's schema with CDKTF's own generator
 * (`@cdktf/provider-generator`, which CDK Terrain uses too). The bindings are committed under
 * provider/cdktf/gen/ and never edited by hand; a test fails when they are out of step.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { providerSchemaJson, type ProviderSchemasJson } from "../schema-json";
import { ENGINE_VERSION } from "../../engine/version";
import { clonefleetProvider } from "../provider";

/** Where the committed bindings live (source tree, whether run from src or dist). */
export function bindingsDir(root: string): string {
  return path.join(root, "provider", "cdktf", "gen");
}

/**
 * The version constraint the bindings put in `required_providers`: cdktf-cli refuses a provider
 * without one, and this one admits the provider packaged from this checkout (its package.json
 * version) and later releases of the same minor line.
 */
export function providerVersionConstraint(version: string = ENGINE_VERSION): string {
  const [major, minor] = version.split(".");
  return `~> ${major}.${minor}`;
}

/** Writes the bindings for `schema` into `outDir` (replacing what was there). */
export async function generateBindings(outDir: string, schema: ProviderSchemasJson = providerSchemaJson(clonefleetProvider)): Promise<void> {
  // The package index also loads jsii-pacmak (for other languages); TypeScript needs only these.
  const { CodeMaker } = require("codemaker") as typeof import("codemaker");
  const { TerraformProviderGenerator } = require("@cdktf/provider-generator/lib/get/generator/provider-generator") as {
    TerraformProviderGenerator: new (code: InstanceType<typeof CodeMaker>, schema: unknown) => { generate(target: unknown): void };
  };
  const { ConstructsMakerProviderTarget, TerraformProviderConstraint, LANGUAGES } = require("@cdktf/commons") as {
    ConstructsMakerProviderTarget: new (constraint: unknown, language: unknown) => unknown;
    TerraformProviderConstraint: new (spec: string) => unknown;
    LANGUAGES: unknown[];
  };
  const code = new CodeMaker();
  // Each provider is generated with a version constraint (as `cdktf get` does), which synth writes into required_providers.
  const generator = new TerraformProviderGenerator(code, schema);
  for (const fqpn of Object.keys(schema.provider_schemas)) {
    generator.generate(new ConstructsMakerProviderTarget(new TerraformProviderConstraint(`${fqpn}@${providerVersionConstraint()}`), LANGUAGES[0]));
  }
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
