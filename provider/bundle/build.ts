/**
 * Builds the provider as one file with esbuild (provider/main.ts and everything it imports),
 * its launcher, and V8's code cache for it, made by starting the bundle once as Terraform
 * would and stopping it. One file spares node resolving and reading hundreds of modules at
 * each start; the cache spares it compiling them. Only the build and tests import this module
 * (esbuild is a development dependency); the packaged provider runs the output.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as esbuild from "esbuild";
import { PROJECT_ROOT } from "../../engine/version";
import { MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "../protocol/handshake";
import { makeCertificate } from "../protocol/mtls";
import { BUNDLE_FILE, CODE_CACHE_FILE, LAUNCHER_FILE, WRITE_CODE_CACHE_ENV } from "./layout";

/** The default output folder (what scripts/package-provider.sh lays out for Terraform). */
export const DEFAULT_BUNDLE_DIR = path.join(PROJECT_ROOT, "dist", "provider-bundle");

/** The built files. */
export interface ProviderBundle {
  /** Run this with node to start the provider. */
  launcher: string;
  bundle: string;
  codeCache: string;
}

const COMMON: esbuild.BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  // Less to read and parse at each start; stack traces map back through the source map.
  minify: true,
  keepNames: true,
  sourcemap: "linked",
  logLevel: "warning",
};

/** Runs the launcher once with the plugin environment and a client certificate, and stops it after its handshake. */
function writeCodeCache(launcher: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [launcher], {
      env: {
        ...process.env,
        [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
        PLUGIN_PROTOCOL_VERSIONS: "6",
        PLUGIN_CLIENT_CERT: makeCertificate().certPem,
        [WRITE_CODE_CACHE_ENV]: "1",
        TF_LOG: "",
        TF_LOG_PROVIDER: "",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes("\n")) child.kill("SIGTERM");
    });
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (!stdout.includes("|grpc|")) reject(new Error(`the bundled provider exited (${code ?? signal}) before its handshake:\n${stderr}`));
      else resolve();
    });
  });
}

/** Bundles the provider into `outDir` (replacing what is there) and makes its code cache; throws when esbuild fails or the bundle does not start. */
export async function buildProviderBundle(outDir: string = DEFAULT_BUNDLE_DIR): Promise<ProviderBundle> {
  fs.rmSync(outDir, { recursive: true, force: true });
  const out = { launcher: path.join(outDir, LAUNCHER_FILE), bundle: path.join(outDir, BUNDLE_FILE), codeCache: path.join(outDir, CODE_CACHE_FILE) };
  try {
    await esbuild.build({ ...COMMON, entryPoints: [path.join(PROJECT_ROOT, "provider", "main.ts")], outfile: out.bundle });
    await esbuild.build({ ...COMMON, sourcemap: false, entryPoints: [path.join(PROJECT_ROOT, "provider", "bundle", "launcher.ts")], outfile: out.launcher });
  } finally {
    // esbuild's API keeps a service process alive for later builds; none follows, and a test
    // that builds the bundle must not leave that process behind.
    await esbuild.stop();
  }
  await writeCodeCache(out.launcher);
  if (!fs.existsSync(out.codeCache)) throw new Error(`the bundled provider did not write its code cache ${out.codeCache}`);
  return out;
}
