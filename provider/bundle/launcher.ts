/**
 * The packaged provider's entry (built into the bundle folder next to provider.js). It runs the
 * bundle through V8's code cache made when the bundle was built, so that a provider process,
 * which Terraform starts several times per command, skips parsing and compiling the code every
 * start runs. A cache V8 rejects (made by another node or for another source) costs nothing but
 * the compile it would have saved. Keys and certificates are never cached: the bundle makes its
 * AutoMTLS key afresh in each process.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as vm from "node:vm";
import { BUNDLE_FILE, CODE_CACHE_FILE, WRITE_CODE_CACHE_ENV } from "./layout";

const bundle = path.join(__dirname, BUNDLE_FILE);
const cacheFile = path.join(__dirname, CODE_CACHE_FILE);
let cachedData: Buffer | undefined;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  // No cache yet: V8 compiles as node would.
}
// The bundle is a CommonJS module; wrap it as node's loader does.
const source = `(function (exports, require, module, __filename, __dirname) {${fs.readFileSync(bundle, "utf8")}\n})`;
const script = new vm.Script(source, { filename: bundle, cachedData });
if (process.env[WRITE_CODE_CACHE_ENV] === "1") {
  // On exit the cache holds every function the start ran, not only the top level.
  process.on("exit", () => fs.writeFileSync(cacheFile, script.createCachedData()));
}
const bundleModule = { exports: {} };
(script.runInThisContext() as (...args: unknown[]) => void)(bundleModule.exports, require, bundleModule, bundle, __dirname);
