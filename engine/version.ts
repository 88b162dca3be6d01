import { readFileSync } from "node:fs";
import * as path from "node:path";

/** The project's root folder (where package.json is), found from sources and from dist/ alike. */
export const PROJECT_ROOT: string = findRoot(__dirname);

/** The engine's version, from package.json. */
export const ENGINE_VERSION: string = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;

function findRoot(start: string): string {
  for (let dir = start; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: string };
      if (pkg.name === "clonefleet") return dir;
    } catch {
      // not here; keep walking up
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find clonefleet's package.json above ${start}`);
  }
}
