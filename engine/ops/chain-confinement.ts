import { promises as fs } from "node:fs";
import { isProtocolFilename, type ImageInfo } from "../disk";
import { pathIsWithin, type Datastore } from "../model";

/**
 * Why a chain named by a user may not be read by the engine, or null when it may: every layer,
 * symlinks resolved, lies inside one of `datastores`; no layer names its backing file by a
 * protocol (`json:{…}`, `nbd://…`) rather than a path; and no layer keeps its data in an
 * external data file (that file is read too, and a copy of the layer would still point at it).
 * Layers are given top first, as `imageInfoChain` returns them.
 */
export async function chainConfinementProblem(infos: readonly ImageInfo[], datastores: readonly Datastore[]): Promise<string | null> {
  const roots = await Promise.all(datastores.map((d) => realPath(d.path)));
  for (const [i, info] of infos.entries()) {
    const real = await realPath(info.path);
    if (!roots.some((root) => pathIsWithin(root, real))) {
      const layer = i === 0 ? `layer ${info.path}` : `layer ${info.path} (the backing file of ${infos[i - 1].path})`;
      return real === info.path
        ? `${layer} is not inside any datastore; move it into one first`
        : `${layer} resolves to ${real}, which is not inside any datastore`;
    }
    for (const ref of info.references) {
      if (ref.kind === "data file") return `layer ${info.path} keeps its data in an external data file ${ref.target}; only layers holding their own data are accepted`;
      if (isProtocolFilename(ref.target)) return `layer ${info.path} names its ${ref.kind} by a protocol (${ref.target}), not by a file inside a datastore`;
    }
  }
  return null;
}

// A path that cannot be resolved (gone, or a dangling link) is judged as written.
async function realPath(p: string): Promise<string> {
  return fs.realpath(p).catch(() => p);
}
