import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { formatBytes, print, table, waitWithProgress } from "../output";
import type { InstantCloneResultWire, ParentWire } from "../../client";

const rows = (list: ParentWire[]) =>
  table(
    ["ID", "NAME", "STATE", "SOURCE VM", "MEMORY", "RAM", "CHILDREN", "WARM", "CREATED"],
    list.map((p) => [p.id, p.name, p.state, p.source_vm_id, formatBytes(p.memory_bytes), p.ram_location, p.children.length, `${p.warm_ready}/${p.warm_count}`, p.created_at]),
  );

const details = (p: ParentWire) =>
  [
    `instant-clone parent ${p.name} (${p.id}), ${p.state}`,
    `  captured from VM ${p.source_vm_id}; ${p.memory_mb} MiB, ${p.vcpus} vCPU, ${p.machine_type}, ${p.accel}, QEMU ${p.qemu_version}`,
    `  RAM file     ${p.ram_path} (${p.ram_location}; ${formatBytes(p.ram_file_allocated_bytes)} held)`,
    `  device state ${p.device_state_path}`,
    `  frozen disk  ${p.disk_chain.join(" <- ")}`,
    `  children     ${p.children.length > 0 ? p.children.join(", ") : "none"}`,
    `  pre-started  ${p.warm_ready} of ${p.warm_count} ready on this host${p.warm_error ? ` (failing: ${p.warm_error})` : ""}`,
  ].join("\n");

const cloned = (r: InstantCloneResultWire) =>
  `${r.children.length} instant clone(s) of ${r.parent_id} running after ${r.total_ms} ms (${r.concurrency} at a time)\n` +
  table(
    ["ID", "NAME", "PID", "READY MS", "START MS"],
    r.children.map((c) => [c.id, c.name, c.pid ?? "-", c.ready_ms, c.start_ms]),
  );

const WARM_HELP = "children each host keeps pre-started (0 to 64): state loaded ahead, paused: a clone request then only resumes one";

function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new Error(`${name}: expected an integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** `clonefleet parent create|ls|show|rm` and `clonefleet vm instant-clone PARENT`; register after the `vm` commands. */
export function registerParentCommands(program: Command, globals: () => GlobalOptions): void {
  const parent = program.command("parent").description("instant-clone parents (S3): a running VM's RAM, device state and disk, frozen to clone from");
  parent
    .command("create")
    .description("capture a running VM as an instant-clone parent; the VM ends stopped on a new overlay")
    .requiredOption("--from <vm>", "the running VM to capture")
    .requiredOption("--name <name>", "parent name")
    .option("--ram-location <tmpfs|datastore>", "where the RAM file goes (default: the engine's setting)")
    .option("--warm <n>", WARM_HELP)
    .option("--no-wait", "print the job and return at once")
    .action(async (o: { from: string; name: string; ramLocation?: string; warm?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const warm = intOption("--warm", o.warm);
      const job = await client.parents.create({ source_vm_id: o.from, name: o.name, ...(o.ramLocation ? { ram_location: o.ramLocation } : {}), ...(warm !== undefined ? { warm_count: warm } : {}) });
      if (!o.wait) return print(g.json, job, (j) => `capturing the parent as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as ParentWire, details);
    });
  parent
    .command("ls")
    .description("list instant-clone parents")
    .action(async () => {
      const g = globals();
      print(g.json, await clientFor(g).parents.list(), rows);
    });
  parent
    .command("show <parent>")
    .description("show a parent: its files, frozen disk and children")
    .action(async (id: string) => {
      const g = globals();
      const p = await clientFor(g).parents.get(id);
      if (!p) throw new Error(`instant-clone parent ${JSON.stringify(id)} not found`);
      print(g.json, p, details);
    });
  parent
    .command("set <parent>")
    .alias("update")
    .description("change a parent's settings in place")
    .requiredOption("--warm <n>", WARM_HELP)
    .action(async (id: string, o: { warm: string }) => {
      const g = globals();
      const p = await clientFor(g).parents.update(id, { warm_count: intOption("--warm", o.warm)! });
      print(g.json, p, (x) => `instant-clone parent ${x.name} (${x.id}): ${x.warm_count} children kept pre-started per host (${x.warm_ready} ready now)`);
    });
  parent
    .command("rm <parent>")
    .description("delete a parent; refused while it has children unless --wait")
    .option("--wait", "wait until its children are gone, then delete it")
    .action(async (id: string, o: { wait?: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      if (!o.wait) {
        await client.parents.delete(id);
        return print(g.json, { id, deleted: true }, () => `deleted instant-clone parent ${id}`);
      }
      const job = await client.parents.deleteWhenChildrenGone(id);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result, () => `deleted instant-clone parent ${id} once its children were gone`);
    });

  const vm = program.commands.find((c) => c.name() === "vm") ?? program.command("vm").description("VMs");
  vm.command("instant-clone <parent>")
    .description("start instant clones of a parent: no boot, memory shared copy-on-write; prints each child's time to running")
    .option("--count <k>", "how many children (1 to 256)")
    .option("--name-prefix <prefix>", "children are named <prefix>-1 … <prefix>-<k>")
    .option("--names <list>", "exact child names, comma-separated, instead of --count and --name-prefix")
    .option("--concurrency <n>", "children started at the same time (default: the engine's setting)")
    .option("--no-wait", "print the job and return at once")
    .action(async (parentId: string, o: { count?: string; namePrefix?: string; names?: string; concurrency?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const concurrency = intOption("--concurrency", o.concurrency);
      const count = intOption("--count", o.count);
      const naming = o.names !== undefined ? { names: o.names.split(",").map((n) => n.trim()) } : { ...(count !== undefined ? { count } : {}), ...(o.namePrefix !== undefined ? { name_prefix: o.namePrefix } : {}) };
      const job = await client.parents.clone(parentId, { ...naming, ...(concurrency !== undefined ? { concurrency } : {}) });
      if (!o.wait) return print(g.json, job, (j) => `starting instant clones as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as InstantCloneResultWire, cloned);
    });
}
