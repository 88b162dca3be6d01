import * as path from "node:path";
import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { formatBytes, print, table } from "../output";

/** `clonefleet disk chain PATH` and `clonefleet disk register PATH`. */
export function registerDiskCommands(program: Command, globals: () => GlobalOptions): void {
  const disk = program.command("disk").description("disks and their chains");
  disk
    .command("chain <path>")
    .description("layers of a disk, top first, with backing files and content IDs")
    .action(async (p: string) => {
      const g = globals();
      const chain = await clientFor(g).disks.chain(path.resolve(p));
      print(g.json, chain, (c) =>
        table(
          ["#", "PATH", "SIZE", "ALLOCATED", "CONTENT ID", "PARENT CONTENT ID", "BACKING"],
          c.layers.map((l, i) => [i, l.path, formatBytes(l.virtual_size_bytes), formatBytes(l.actual_size_bytes), l.content_id, l.parent_content_id, l.backing_path]),
        ),
      );
    });
  disk
    .command("register <path>")
    .description("give content IDs to the layers of a chain made by hand inside a datastore (so it can be replicated)")
    .action(async (p: string) => {
      const g = globals();
      const r = await clientFor(g).disks.register(path.resolve(p));
      print(g.json, r, (x) =>
        [
          `registered ${x.registered.length} new layer(s) of ${x.path}`,
          table(
            ["#", "PATH", "CONTENT ID", "PARENT CONTENT ID", "NEW"],
            x.layers.map((l, i) => [i, l.path, l.content_id, l.parent_content_id, x.registered.includes(l.path) ? "yes" : ""]),
          ),
        ].join("\n"),
      );
    });
}
