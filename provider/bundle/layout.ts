/** The files of the one-file provider bundle, all in one folder (dist/provider-bundle by default). */

/** The entry Terraform's launcher runs with node: it runs the bundle through the code cache. */
export const LAUNCHER_FILE = "terraform-provider-clonefleet.js";

/** The provider and everything it imports, in one CommonJS file. */
export const BUNDLE_FILE = "provider.js";

/** V8's code cache for the bundle, made when it was built. */
export const CODE_CACHE_FILE = "provider.js.cache";

/** Set to "1", the launcher writes the code cache when the process exits (the build does this once). */
export const WRITE_CODE_CACHE_ENV = "CLONEFLEET_WRITE_CODE_CACHE";
