import * as path from "node:path";
import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { formatBytes, print, table, waitWithProgress } from "../output";
import type { ReplicaWire } from "../../client";

const rows = (list: ReplicaWire[]) =>
  table(
    ["ID", "SOURCE", "TARGET", "DISK", "COPIED", "REUSED", "BYTES COPIED", "STATE"],
    list.map((r) => [
      r.id,
      r.template_id ?? r.source_disk_path,
      r.target_datastore_id,
      r.disk_path,
      r.layers_copied,
      r.layers_reused,
      formatBytes(r.copied_bytes),
      r.state,
    ]),
  );

/** A replica and what its last run did, as text. */
export function describeReplica(r: ReplicaWire): string {
  const run = r.last_run;
  const lines = [
    `replica ${r.id} on ${r.target_datastore_id} (${r.state})`,
    `  source ${r.template_id ? `template ${r.template_id} (${r.source_disk_path})` : r.source_disk_path}`,
    `  disk   ${r.disk_path}`,
    `  last ${run.kind}: copied ${run.copied.length} layer(s), ${formatBytes(run.bytes_copied)}; kept ${run.kept.length}; reused ${run.reused.length}` +
      (run.verified === null ? "" : run.verified ? "; compares equal to the source" : "; DIFFERS from the source"),
  ];
  for (const c of run.copied) lines.push(`    copied  [${c.position}] ${c.source_path} -> ${c.target_path} (${formatBytes(c.bytes)})`);
  for (const k of run.kept) lines.push(`    kept    [${k.position}] ${k.target_path}`);
  for (const u of run.reused) lines.push(`    reused  [${u.position}] ${u.target_path} (content id ${u.content_id})`);
  for (const s of run.stale_links) {
    lines.push(
      `  warning: ${s.child_path} recorded parent content id ${s.recorded_parent_content_id ?? "none"}, but its parent ${s.parent_path} now has ` +
        `${s.parent_content_id}: the parent changed after the child was made, so it was copied, not reused`,
    );
  }
  for (const x of run.refused) lines.push(`  not reused: ${x.target_path} (content id ${x.content_id}): ${x.reason}`);
  for (const d of r.drift) lines.push(`  drift: [${d.position}] ${d.path}: ${d.reason}`);
  lines.push(
    "  chain:",
    table(
      ["#", "PATH", "CONTENT ID", "ORIGIN"],
      r.chain.map((l) => [l.position, l.path, l.content_id, l.origin]),
    )
      .split("\n")
      .map((l) => `    ${l}`)
      .join("\n"),
  );
  return lines.join("\n");
}

/** `clonefleet replica create|ls|show|repair|rm`. */
export function registerReplicaCommands(program: Command, globals: () => GlobalOptions): void {
  const replica = program.command("replica").description("disk chains replicated onto other datastores by content ID");
  replica
    .command("create")
    .description("recreate a disk chain on another datastore, copying only the layers the target lacks")
    .option("--source <path>", "top layer of a chain inside a datastore")
    .option("--template <id>", "replicate this template's disk")
    .requiredOption("--target <datastore>", "datastore id to replicate onto")
    .option("--verify", "compare the result with the source (qemu-img compare)")
    .option("--idempotency-key <key>", "makes a retried request return the same job")
    .option("--no-wait", "print the job and return at once")
    .action(async (o: { source?: string; template?: string; target: string; verify?: boolean; idempotencyKey?: string; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.replicas.create(
        {
          ...(o.source !== undefined ? { source_disk_path: path.resolve(o.source) } : {}),
          ...(o.template !== undefined ? { template_id: o.template } : {}),
          target_datastore_id: o.target,
          ...(o.verify ? { verify: true } : {}),
        },
        o.idempotencyKey,
      );
      if (!o.wait) return print(g.json, job, (j) => `replication running as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as ReplicaWire, describeReplica);
    });
  replica
    .command("ls")
    .description("list replicas (state measured now)")
    .option("--target <datastore>", "only those on this datastore")
    .action(async (o: { target?: string }) => {
      const g = globals();
      print(g.json, await clientFor(g).replicas.list(o.target), rows);
    });
  replica
    .command("show <id>")
    .description("show a replica, its chain, its last run and any drift")
    .action(async (id: string) => {
      const g = globals();
      const r = await clientFor(g).replicas.get(id);
      if (!r) throw new Error(`replica ${id} not found`);
      print(g.json, r, describeReplica);
    });
  replica
    .command("repair <id>")
    .description("copy again only what a replica lost on its target")
    .option("--verify", "compare the result with the source (qemu-img compare)")
    .option("--no-wait", "print the job and return at once")
    .action(async (id: string, o: { verify?: boolean; wait: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      const job = await client.replicas.repair(id, o.verify ? { verify: true } : {});
      if (!o.wait) return print(g.json, job, (j) => `repair running as job ${j.id}`);
      const done = await waitWithProgress(client, job, g.json);
      print(g.json, done.result as ReplicaWire, describeReplica);
    });
  replica
    .command("rm <id>")
    .description("delete a replica and the layers it copied (layers it reused stay)")
    .action(async (id: string) => {
      const g = globals();
      await clientFor(g).replicas.delete(id);
      print(g.json, { removed: id }, () => `deleted replica ${id}`);
    });
}
