import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table, waitWithProgress } from "../output";
import type { MigrateResultWire, VmWire } from "../../client";

/** Parses a whole number of seconds for `flag`; throws a usage error naming it. */
function seconds(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n)) throw new Error(`${flag}: expected whole seconds, got ${JSON.stringify(value)}`);
  return n;
}

const rows = (list: VmWire[]) =>
  table(
    ["ID", "NAME", "POWER", "ACCEL", "DATASTORE", "PROVISIONED", "DEPTH", "STATE", "FLEET", "DISK"],
    list.map((v) => [v.id, v.name, v.power_state + (v.crashed ? " (crashed)" : ""), v.accel ?? "-", v.datastore_id, v.provisioned_by, v.chain_depth, v.state, v.fleet_id, v.disk_path]),
  );

/** How long a fork's parent stood still; only a running parent is stunned (a stopped one forks its disks only). */
const forkStun = (v: VmWire) =>
  v.stun_ms === null || v.stun_ms === undefined ? "(the parent was stopped: disks only, no stun)" : `(parent stunned ${v.stun_ms} ms)`;

const details = (v: VmWire) =>
  [
    rows([v]),
    "",
    `template ${v.template_id ?? "-"}, clone mode ${v.clone_mode ?? "-"}, power ${v.power_state}${v.crashed ? " (its QEMU died)" : ""}, accel ${v.accel ?? "-"}, pid ${v.pid ?? "-"}, host ${v.host_id}`,
    `migration notice ${v.migration_notify_timeout_seconds ? `${v.migration_notify_timeout_seconds} s, then ${v.migration_on_missing_ack ?? "proceed"}` : "off"}`,
    ...(v.forked_from ? [`forked from ${v.forked_from} ${forkStun(v)}`] : []),
    `home ${v.home_dir}`,
    `content id ${v.content_id ?? "-"}`,
    "disk chain (top first):",
    ...(v.disk_layers ?? v.disk_chain.map((path) => ({ path, content_id: null }))).map((l, i) => `  ${i}  ${l.content_id ?? "-".padEnd(32)}  ${l.path}`),
  ].join("\n");

/** `clonefleet vm create|ls|show|rm|start|stop|fork`. */
export function registerVmCommands(program: Command, globals: () => GlobalOptions): void {
  const vm = program.command("vm").description("VMs and their disks");
  vm.command("create")
    .description("create a VM from a template")
    .requiredOption("--name <name>", "unique name")
    .requiredOption("--template <id>", "template to clone")
    .option("--datastore <id>", "datastore for its disk (default: the template's)")
    .option("--clone-mode <mode>", "pool (a ready pool copy, else a copy; default), full or linked")
    .option("--host <id>", "host to place it on (default: the engine's)")
    .option("--notify-timeout <seconds>", "seconds its guest gets to acknowledge a migration notice (0, the default: no notice)")
    .option("--on-missing-ack <policy>", "abort or proceed (default) when the acknowledgement does not come")
    .option("--idempotency-key <key>", "makes a retried create return the same job")
    .option("--no-wait", "print the job and return at once")
    .action(async (o: { name: string; template: string; datastore?: string; cloneMode?: string; host?: string; notifyTimeout?: string; onMissingAck?: string; idempotencyKey?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.vms.create(
        {
          name: o.name,
          template_id: o.template,
          ...(o.datastore ? { datastore_id: o.datastore } : {}),
          ...(o.cloneMode ? { clone_mode: o.cloneMode } : {}),
          ...(o.host ? { host_id: o.host } : {}),
          ...(o.notifyTimeout !== undefined ? { migration_notify_timeout_seconds: seconds("--notify-timeout", o.notifyTimeout) } : {}),
          ...(o.onMissingAck !== undefined ? { migration_on_missing_ack: o.onMissingAck } : {}),
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
  vm.command("start <id>")
    .description("power a VM on (its QEMU outlives the engine)")
    .option("--accel <setting>", "set the VM's own accelerator: auto, kvm or tcg")
    .action(async (id: string, o: { accel?: string }) => {
      const g = globals();
      const v = await clientFor(g).vms.start(id, o.accel ? { accel: o.accel } : {});
      print(g.json, v, (x) => `VM ${x.name} (${x.id}) running on ${x.accel}, pid ${x.pid}`);
    });
  vm.command("stop <id>")
    .description("power a VM off: ACPI power-down, then quit after the timeout, then kill")
    .option("--timeout <seconds>", "time the guest gets to power off (default: the VM's stop timeout, else 30)")
    .action(async (id: string, o: { timeout?: string }) => {
      const g = globals();
      const t = o.timeout === undefined ? undefined : Number(o.timeout);
      if (t !== undefined && (!Number.isFinite(t) || t < 0)) throw new Error(`--timeout: expected seconds >= 0, got ${JSON.stringify(o.timeout)}`);
      const v = await clientFor(g).vms.stop(id, t === undefined ? {} : { timeout_seconds: t });
      print(g.json, v, (x) => `VM ${x.name} (${x.id}) stopped`);
    });
  vm.command("set <id>")
    .alias("update")
    .description("change a VM's settings in place: its stop timeout and its migration policy")
    .option("--stop-timeout <seconds>", "seconds a stop waits for the guest to power off before QEMU quits; 'default' for the engine's (30)")
    .option("--notify-timeout <seconds>", "seconds its guest gets to acknowledge a migration notice (0: no notice)")
    .option("--on-missing-ack <policy>", "abort or proceed when the acknowledgement does not come")
    .action(async (id: string, o: { stopTimeout?: string; notifyTimeout?: string; onMissingAck?: string }) => {
      const g = globals();
      if (o.stopTimeout === undefined && o.notifyTimeout === undefined && o.onMissingAck === undefined) {
        throw new Error("nothing to set: give --stop-timeout, --notify-timeout or --on-missing-ack");
      }
      const stop = o.stopTimeout === undefined || o.stopTimeout === "default" ? null : Number(o.stopTimeout);
      if (stop !== null && !Number.isFinite(stop)) throw new Error(`--stop-timeout: expected seconds or 'default', got ${JSON.stringify(o.stopTimeout)}`);
      const v = await clientFor(g).vms.update(id, {
        ...(o.stopTimeout !== undefined ? { stop_timeout_seconds: stop } : {}),
        ...(o.notifyTimeout !== undefined ? { migration_notify_timeout_seconds: seconds("--notify-timeout", o.notifyTimeout) } : {}),
        ...(o.onMissingAck !== undefined ? { migration_on_missing_ack: o.onMissingAck } : {}),
      });
      print(g.json, v, (x) =>
        [
          `VM ${x.name} (${x.id}): stop timeout ${x.stop_timeout_seconds ?? "default (30)"} s`,
          `migration notice ${x.migration_notify_timeout_seconds ? `${x.migration_notify_timeout_seconds} s, then ${x.migration_on_missing_ack}` : "off"}`,
        ].join("; "),
      );
    });
  vm.command("fork <id>")
    .description("fork a VM into a child: a running VM is stunned briefly and both run on; a stopped one forks its disks")
    .requiredOption("--name <name>", "name of the child")
    .option("--idempotency-key <key>", "makes a retried fork return the same job")
    .option("--no-wait", "print the job and return at once")
    .action(async (id: string, o: { name: string; idempotencyKey?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.vms.fork(id, { name: o.name }, o.idempotencyKey);
      if (!o.wait) return print(g.json, job, (j) => `forking VM as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      const child = done.result as VmWire & { parent_stun_ms: number | null; child_ready_ms: number | null; layout: string };
      print(g.json, child, (c) =>
        [
          `forked ${id} into ${c.name} (${c.id}), ${c.power_state}; disks: ${c.layout}`,
          ...(c.parent_stun_ms !== null ? [`  parent stunned ${c.parent_stun_ms} ms, child ready after ${c.child_ready_ms} ms`] : []),
          ...c.disk_chain.map((p, i) => `  ${i}  ${p}`),
        ].join("\n"),
      );
    });
  vm.command("migrate <id>")
    .description("live-migrate a running VM to another host, telling its guest first per its policy (S6)")
    .requiredOption("--to <host>", "the host to move it to")
    .option("--notify-timeout <seconds>", "seconds the guest gets to acknowledge (0: no notice); the VM's policy when absent")
    .option("--on-missing-ack <policy>", "abort or proceed when the acknowledgement does not come; the VM's policy when absent")
    .option("--datastore <id>", "move the VM's disk to this datastore during the migration (blockdev-mirror, then switch over)")
    .option("--idempotency-key <key>", "makes a retried migration return the same job")
    .option("--no-wait", "print the job and return at once")
    .action(async (id: string, o: { to: string; notifyTimeout?: string; onMissingAck?: string; datastore?: string; idempotencyKey?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.vms.migrate(
        id,
        {
          host_id: o.to,
          ...(o.notifyTimeout !== undefined ? { notify_timeout_seconds: seconds("--notify-timeout", o.notifyTimeout) } : {}),
          ...(o.onMissingAck !== undefined ? { on_missing_ack: o.onMissingAck } : {}),
          ...(o.datastore !== undefined ? { target_datastore_id: o.datastore } : {}),
        },
        o.idempotencyKey,
      );
      if (!o.wait) return print(g.json, job, (j) => `migrating VM as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      const r = done.result as MigrateResultWire;
      print(g.json, r, (x) =>
        [
          `migrated ${x.vm.name} (${x.vm.id}) from host ${x.source_host_id} to ${x.target_host_id}: downtime ${x.downtime_ms ?? "-"} ms, total ${x.total_ms} ms`,
          ...(x.steps.some((s) => s.step === "disk_moved") ? [`  disk moved to datastore ${x.vm.datastore_id}`] : []),
          ...(x.notice ? [`  guest notice ${x.notice.outcome} after ${x.notice.waited_ms} ms (policy ${x.notice.policy}), ${x.notice.lead_ms ?? "-"} ms before the switch-over`] : ["  no guest notice"]),
          ...x.steps.map((s) => `  ${s.at}  ${s.step}`),
        ].join("\n"),
      );
    });
  vm.command("rm <id>")
    .description("delete a standalone VM and its disk")
    .action(async (id: string) => {
      const g = globals();
      await clientFor(g).vms.delete(id);
      print(g.json, { removed: id }, () => `deleted VM ${id}`);
    });
}
