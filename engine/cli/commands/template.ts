import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { formatBytes, print, table, waitWithProgress } from "../output";
import type { TemplateWire } from "../../client";

const rows = (list: TemplateWire[]) =>
  table(
    ["ID", "NAME", "DATASTORE", "SIZE", "MEMORY", "VCPUS", "CONTENT ID", "STATE"],
    list.map((t) => [t.id, t.name, t.datastore_id, formatBytes(t.virtual_size_bytes), `${t.memory_mb} MiB`, t.vcpus, t.content_id, t.state]),
  );

function int(name: string) {
  return (v: string) => {
    if (!/^-?\d+$/.test(v)) throw new Error(`${name}: expected an integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

/** `clonefleet template import|ls|show|rm`. */
export function registerTemplateCommands(program: Command, globals: () => GlobalOptions): void {
  const tpl = program.command("template").description("images VMs are cloned from");
  tpl
    .command("import")
    .description("import a qcow2 or raw image as a template (copied and converted to qcow2)")
    .requiredOption("--name <name>", "unique name")
    .requiredOption("--datastore <id>", "datastore to keep it in")
    .requiredOption("--source <file>", "qcow2 or raw image on the engine host")
    .option("--memory-mb <n>", "memory of VMs made from it", int("--memory-mb"))
    .option("--vcpus <n>", "virtual CPUs", int("--vcpus"))
    .option("--kernel <file>", "kernel for direct kernel boot")
    .option("--initrd <file>", "initrd for direct kernel boot")
    .option("--cmdline <text>", "kernel command line")
    .option("--idempotency-key <key>", "makes a retried import return the same job")
    .option("--no-wait", "print the job and return at once")
    .action(async (o: { name: string; datastore: string; source: string; memoryMb?: number; vcpus?: number; kernel?: string; initrd?: string; cmdline?: string; idempotencyKey?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.templates.import(
        {
          name: o.name,
          datastore_id: o.datastore,
          source_path: o.source,
          ...(o.memoryMb !== undefined ? { memory_mb: o.memoryMb } : {}),
          ...(o.vcpus !== undefined ? { vcpus: o.vcpus } : {}),
          ...(o.kernel ? { kernel: o.kernel } : {}),
          ...(o.initrd ? { initrd: o.initrd } : {}),
          ...(o.cmdline ? { cmdline: o.cmdline } : {}),
        },
        o.idempotencyKey,
      );
      if (!o.wait) return print(g.json, job, (j) => `import running as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as TemplateWire, (t) => `imported template ${t.name} (${t.id})\n  disk ${t.disk_path}\n  content id ${t.content_id}`);
    });
  tpl.command("ls")
    .description("list templates")
    .option("--datastore <id>", "only those on this datastore")
    .action(async (o: { datastore?: string }) => {
      const g = globals();
      print(g.json, await clientFor(g).templates.list(o.datastore), rows);
    });
  tpl.command("show <id>")
    .description("show one template")
    .action(async (id: string) => {
      const g = globals();
      const t = await clientFor(g).templates.get(id);
      if (!t) throw new Error(`template ${id} not found`);
      print(g.json, t, (x) => rows([x]));
    });
  tpl.command("rm <id>")
    .description("delete a template and its files")
    .action(async (id: string) => {
      const g = globals();
      await clientFor(g).templates.delete(id);
      print(g.json, { removed: id }, () => `deleted template ${id}`);
    });
}
