import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { formatBytes, print, table } from "../output";
import type { DatastoreWire } from "../../client";

const rows = (list: DatastoreWire[]) =>
  table(
    ["ID", "NAME", "PATH", "FREE"],
    list.map((d) => [d.id, d.name, d.path, d.reachable ? formatBytes(d.free_bytes) : "unreachable"]),
  );

/** `clonefleet datastore add|ls|show|rm`. */
export function registerDatastoreCommands(program: Command, globals: () => GlobalOptions): void {
  const ds = program.command("datastore").description("directories that hold disks");
  ds.command("add")
    .description("register a directory as a datastore")
    .requiredOption("--name <name>", "unique name")
    .requiredOption("--path <dir>", "absolute directory (created when missing)")
    .action(async (o: { name: string; path: string }) => {
      const g = globals();
      print(g.json, await clientFor(g).datastores.create({ name: o.name, path: o.path }), (d) => `added datastore ${d.name} (${d.id}) at ${d.path}`);
    });
  ds.command("ls")
    .description("list datastores")
    .action(async () => {
      const g = globals();
      print(g.json, await clientFor(g).datastores.list(), rows);
    });
  ds.command("show <id>")
    .description("show one datastore")
    .action(async (id: string) => {
      const g = globals();
      const d = await clientFor(g).datastores.get(id);
      if (!d) throw new Error(`datastore ${id} not found`);
      print(g.json, d, (x) => rows([x]));
    });
  ds.command("rm <id>")
    .description("forget a datastore (refused while it holds templates or disks)")
    .action(async (id: string) => {
      const g = globals();
      await clientFor(g).datastores.delete(id);
      print(g.json, { removed: id }, () => `removed datastore ${id}`);
    });
}
