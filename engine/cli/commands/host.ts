import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table } from "../output";
import type { HostWire } from "../../client";

const rows = (list: HostWire[]) =>
  table(
    ["ID", "STATUS", "HEARTBEAT", "VMS", "PID", "API", "WHY DOWN"],
    list.map((h) => [h.id, h.status, `${(h.heartbeat_age_ms / 1000).toFixed(1)} s ago`, h.vm_count, h.pid, h.api_url, h.down_reason]),
  );

/** `clonefleet host ls|show`: the engine agents sharing the inventory and their health (S6). */
export function registerHostCommands(program: Command, globals: () => GlobalOptions): void {
  const host = program.command("host").description("hosts: the engine agents that run VMs, and their health");
  host
    .command("ls")
    .description("list hosts with their health (down once an agent stops answering)")
    .action(async () => {
      const g = globals();
      print(g.json, await clientFor(g).hosts.list(), rows);
    });
  host
    .command("show <id>")
    .description("show a host")
    .action(async (id: string) => {
      const g = globals();
      const h = await clientFor(g).hosts.get(id);
      if (!h) throw new Error(`host ${id} not found`);
      print(g.json, h, (x) => [rows([x]), "", `state folder ${x.state_dir}`, `VM state folders ${x.vm_state_root}`, `started ${x.started_at}, last heartbeat ${x.last_heartbeat_at}`].join("\n"));
    });
}
