import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table, waitWithProgress } from "../output";
import type { VmWire } from "../../client";

const rows = (list: VmWire[]) =>
  table(
    ["ID", "NAME", "DATASTORE", "PROVISIONED", "DEPTH", "STATE", "FLEET", "DISK"],
    list.map((v) => [v.id, v.name, v.datastore_id, v.provisioned_by, v.chain_depth, v.state, v.fleet_id, v.disk_path]),
  );

const details = (v: VmWire) =>
  [
    rows([v]),
    "",
    `template ${v.template_id ?? "-"}, clone mode ${v.clone_mode ?? "-"}, power ${v.power_state}, host ${v.host_id}`,
    `home ${v.home_dir}`,
    `content id ${v.content_id ?? "-"}`,
    "disk chain (top first):",
    ...v.disk_chain.map((p, i) => `  ${i}  ${p}`),
  ].join("\n");

/** `clonefleet vm create|ls|show|rm`. */
export function registerVmCommands(program: Command, globals: () => GlobalOptions): void {
  const vm = program.command("vm").description("VMs and their disks");
  vm.command("create")
    .description("create a VM from a template")
    .requiredOption("--name <name>", "unique name")
    .requiredOption("--template <id>", "template to clone")
    .option("--datastore <id>", "datastore for its disk (default: the template's)")
    .option("--clone-mode <mode>", "pool (a ready pool copy, else a copy; default), full or linked")
    .option("--idempotency-key <key>", "makes a retried create return the same job")
    .option("--no-wait", "print the job and return at once")
    .action(async (o: { name: string; template: string; datastore?: string; cloneMode?: string; idempotencyKey?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.vms.create(
        {
          name: o.name,
          template_id: o.template,
          ...(o.datastore ? { datastore_id: o.datastore } : {}),
          ...(o.cloneMode ? { clone_mode: o.cloneMode } : {}),
        },
        o.idempotencyKey,
      );
      if (!o.wait) return print(g.json, job, (j) => `creating VM as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as VmWire, (v) => `created VM ${v.name} (${v.id}); disk provisioned by ${v.provisioned_by}\n  ${v.disk_path}`);
    });
  vm.command("ls")
    .description("list VMs")
    .option("--fleet <id>", "only members of this fleet")
    .option("--datastore <id>", "only VMs on this datastore")
    .option("--template <id>", "only clones of this template")
    .action(async (o: { fleet?: string; datastore?: string; template?: string }) => {
      const g = globals();
      print(g.json, await clientFor(g).vms.list({ fleetId: o.fleet, datastoreId: o.datastore, templateId: o.template }), rows);
    });
  vm.command("show <id>")
    .description("show a VM and its disk chain")
    .action(async (id: string) => {
      const g = globals();
      const v = await clientFor(g).vms.get(id);
      if (!v) throw new Error(`vm ${id} not found`);
      print(g.json, v, details);
    });
  vm.command("rm <id>")
    .description("delete a standalone VM and its disk")
    .action(async (id: string) => {
      const g = globals();
      await clientFor(g).vms.delete(id);
      print(g.json, { removed: id }, () => `deleted VM ${id}`);
    });
}
