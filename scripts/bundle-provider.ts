/** `npm run build` (after tsc): the one-file provider bundle in dist/provider-bundle/, see provider/bundle/build.ts. */
import * as path from "node:path";
import { PROJECT_ROOT } from "../engine/version";
import { buildProviderBundle } from "../provider/bundle/build";

buildProviderBundle().then(
  (b) => console.log(`bundled the provider: ${path.relative(PROJECT_ROOT, b.launcher)}`),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
