import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table, waitWithProgress } from "../output";
import type { FleetApplyWire, FleetWire } from "../../client";
import { intOption } from "./pool";

const rows = (list: FleetWire[]) =>
  table(
    ["ID", "PREFIX", "TEMPLATE", "SIZE", "READY", "STATE", "MODE", "DATASTORES"],
    list.map((f) => [f.id, f.name_prefix, f.template_id, f.size, f.members_ready, f.state, f.clone_mode, f.datastore_ids.join(",")]),
  );

const members = (f: FleetWire) =>
  table(
    ["NAME", "VM", "DATASTORE", "PROVISIONED", "STATE", "DISK"],
    f.vms.map((v) => [v.name, v.id, v.datastore_id, v.provisioned_by, v.state, v.disk_path]),
  );

/** Splits `a,b, c` into ids; throws naming the flag when nothing is left. */
export function idList(flag: string) {
  return (v: string) => {
    const ids = v
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (ids.length === 0) throw new Error(`${flag}: expected one or more ids separated by commas`);
    return ids;
  };
}

function applied(r: FleetApplyWire): string {
  const pooled = r.added.filter((a) => a.provisioned_by === "pool").length;
  const copied = r.added.filter((a) => a.provisioned_by === "copy").length;
  const linked = r.added.filter((a) => a.provisioned_by === "linked").length;
  const lines = [
    `fleet ${r.fleet.name_prefix} (${r.fleet.id}): ${r.fleet.members_ready}/${r.fleet.size} members ready, ${r.fleet.state}`,
    `added ${r.added.length} (${pooled} from pools, ${copied} copied${linked ? `, ${linked} linked` : ""}) in ${(r.provision_ms / 1000).toFixed(3)} s; ` +
      `removed ${r.removed.length}; replaced ${r.replaced.length}`,
  ];
  if (r.added.length) {
    lines.push("", table(["NAME", "VM", "DATASTORE", "PROVISIONED", "DISK"], r.added.map((a) => [a.name, a.id, a.datastore_id, a.provisioned_by, a.disk_path])));
  }
  if (r.removed.length) lines.push("", `removed: ${r.removed.map((x) => x.name).join(", ")}`);
  if (r.replaced.length) lines.push("", `made again (their disks had vanished): ${r.replaced.map((x) => x.name).join(", ")}`);
  return lines.join("\n");
}

/** `clonefleet fleet apply|ls|show|rm`. */
export function registerFleetCommands(program: Command, globals: () => GlobalOptions): void {
  const fleet = program.command("fleet").description("declared sets of clones of a template, kept at their size");
  fleet
    .command("apply")
    .description("declare a fleet (or redeclare the one with this name prefix) and apply it; prints how each new clone's disk was provisioned")
    .requiredOption("--template <id>", "template to clone")
    .requiredOption("--size <k>", "members wanted (0 to 1024)", intOption("--size"))
    .requiredOption("--datastores <ids>", "datastores to spread over, comma-separated", idList("--datastores"))
    .option("--name-prefix <prefix>", "members are named <prefix>-<n> (default: the template's name)")
    .option("--clone-mode <mode>", "pool (default), full or linked")
    .option("--idempotency-key <key>", "makes a retried apply return the same job")
    .option("--no-wait", "print the job and return at once")
    .action(async (o: { template: string; size: number; datastores: string[]; namePrefix?: string; cloneMode?: string; idempotencyKey?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.fleets.apply(
        {
          template_id: o.template,
          size: o.size,
          datastore_ids: o.datastores,
          ...(o.namePrefix ? { name_prefix: o.namePrefix } : {}),
          ...(o.cloneMode ? { clone_mode: o.cloneMode } : {}),
        },
        o.idempotencyKey,
      );
      if (!o.wait) return print(g.json, job, (j) => `applying fleet ${j.target_id} as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as FleetApplyWire, applied);
    });
  fleet
    .command("ls")
    .description("list fleets")
    .option("--template <id>", "only fleets of this template")
    .action(async (o: { template?: string }) => {
      const g = globals();
      print(g.json, await clientFor(g).fleets.list({ templateId: o.template }), rows);
    });
  fleet
    .command("show <id>")
    .description("show a fleet and its members (drifted ones included)")
    .action(async (id: string) => {
      const g = globals();
      const f = await clientFor(g).fleets.get(id);
      if (!f) throw new Error(`fleet ${id} not found`);
      print(g.json, f, (x) => `${rows([x])}\n\n${x.vms.length ? members(x) : "no members"}`);
    });
  fleet
    .command("rm <id>")
    .description("delete a fleet and every member with its disk")
    .action(async (id: string) => {
      const g = globals();
      await clientFor(g).fleets.delete(id);
      print(g.json, { removed: id }, () => `deleted fleet ${id}`);
    });
}
