import * as path from "node:path";
import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table, waitWithProgress } from "../output";
import type { SnapshotWire } from "../../client";

const rows = (list: SnapshotWire[]) =>
  table(
    ["ID", "NAME", "VM", "STATE", "CONTENT ID", "CREATED", "FROZEN DISK"],
    list.map((s) => [s.id, s.name, s.vm_id, s.state, s.content_id ?? "-", s.created_at, s.frozen_disk_path]),
  );

/** The consolidation result as the engine reports it. */
interface ConsolidationWire {
  id: string;
  method: string;
  removed_path: string;
  base_path: string;
  bytes: number;
  duration_ms: number;
  pivot_ms: number | null;
  guest_paused: boolean;
  chain_depth: number;
}

const consolidated = (r: ConsolidationWire) =>
  `consolidated snapshot ${r.id} (${r.method}): ${r.bytes} bytes in ${r.duration_ms} ms` +
  (r.pivot_ms !== null ? `, pivot ${r.pivot_ms} ms` : "") +
  `, guest paused: ${r.guest_paused ? "yes" : "no"}; chain depth now ${r.chain_depth}\n  removed ${r.removed_path}\n  kept    ${r.base_path}`;

function speedOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)([KMG]?)$/i.exec(v.trim());
  if (!m) throw new Error(`--speed: expected bytes per second such as 64M, got ${JSON.stringify(v)}`);
  return Number(m[1]) * { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
}

/** `clonefleet snapshot create|ls|show|rm` and `clonefleet backup VM --to FILE`. */
export function registerSnapshotCommands(program: Command, globals: () => GlobalOptions): void {
  const snap = program.command("snapshot").description("snapshots of VMs (external, live or offline); rm consolidates");
  snap
    .command("create <vm>")
    .description("snapshot a VM: its disk is frozen and it continues on a new overlay (no pause)")
    .requiredOption("--name <name>", "snapshot name, unique per VM")
    .option("--no-wait", "print the job and return at once")
    .action(async (vm: string, o: { name: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.snapshots.create(vm, { name: o.name });
      if (!o.wait) return print(g.json, job, (j) => `taking snapshot as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as SnapshotWire, (s) => `snapshot ${s.name} (${s.id}) of VM ${s.vm_id}\n  frozen disk ${s.frozen_disk_path}`);
    });
  snap
    .command("ls <vm>")
    .description("list a VM's snapshots, oldest first")
    .action(async (vm: string) => {
      const g = globals();
      print(g.json, await clientFor(g).snapshots.list(vm), rows);
    });
  snap
    .command("show <id>")
    .description("show a snapshot and its frozen chain")
    .action(async (id: string) => {
      const g = globals();
      const s = await clientFor(g).snapshots.get(id);
      if (!s) throw new Error(`snapshot ${id} not found`);
      print(g.json, s, (x) => [rows([x]), "frozen chain (top first):", ...x.frozen_chain.map((p, i) => `  ${i}  ${p}`)].join("\n"));
    });
  snap
    .command("rm <id>")
    .description("delete a snapshot: its layer is consolidated (live block commit with a pivot, or qemu-img commit when stopped)")
    .option("--speed <bytes>", "cap the live commit's speed, e.g. 64M (per second)")
    .option("--no-wait", "print the job and return at once")
    .action(async (id: string, o: { speed?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.snapshots.delete(id, { speedBytesPerSec: speedOf(o.speed) });
      if (!o.wait) return print(g.json, job, (j) => `consolidating snapshot as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as ConsolidationWire, consolidated);
    });
  program
    .command("backup <vm>")
    .description("back a VM up into a file: snapshot, flattened copy of the frozen disk, consolidation")
    .requiredOption("--to <file>", "the backup file (absolute or relative to here; must not exist; in a datastore's folder or an engine --backup-dir)")
    .option("--format <format>", "qcow2 (default) or raw", "qcow2")
    .option("--speed <bytes>", "cap the consolidation's live commit speed, e.g. 64M (per second)")
    .option("--no-wait", "print the job and return at once")
    .action(async (vm: string, o: { to: string; format: string; speed?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const speed = speedOf(o.speed);
      const job = await client.vms.backup(vm, { target_path: path.resolve(o.to), format: o.format, ...(speed ? { speed_bytes_per_sec: speed } : {}) });
      if (!o.wait) return print(g.json, job, (j) => `backing up as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      const r = done.result as { target_path: string; format: string; size_bytes: number; snapshot_ms: number; copy_ms: number; consolidation: ConsolidationWire };
      print(g.json, r, (x) => `backed up VM ${vm} to ${x.target_path} (${x.format}, ${x.size_bytes} bytes): snapshot ${x.snapshot_ms} ms, copy ${x.copy_ms} ms\n${consolidated(x.consolidation)}`);
    });
}
