import type { Command } from "commander";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table, waitWithProgress } from "../output";
import type { JobWire } from "../../client";

const rows = (list: JobWire[]) =>
  table(
    ["ID", "KIND", "STATE", "PROGRESS", "TARGET", "CREATED", "ERROR"],
    list.map((j) => [
      j.id,
      j.kind,
      j.state,
      j.progress.total ? `${Math.round((100 * j.progress.done) / j.progress.total)}%` : "-",
      j.target_id,
      j.created_at,
      j.error ? `${j.error.code}: ${j.error.message}` : null,
    ]),
  );

/** `clonefleet job ls|show|wait|cancel`. */
export function registerJobCommands(program: Command, globals: () => GlobalOptions): void {
  const job = program.command("job").description("long work the engine runs");
  job.command("ls")
    .description("list jobs, newest first")
    .option("--state <state>", "queued, running, succeeded, failed or cancelled")
    .option("--limit <n>", "at most this many", "50")
    .action(async (o: { state?: string; limit: string }) => {
      const g = globals();
      print(g.json, await clientFor(g).jobs.list({ state: o.state, limit: Number(o.limit) }), rows);
    });
  job.command("show <id>")
    .description("show a job")
    .action(async (id: string) => {
      const g = globals();
      print(g.json, await clientFor(g).jobs.get(id), (j) => `${rows([j])}\n${j.result ? JSON.stringify(j.result, null, 2) : ""}`.trimEnd());
    });
  job.command("wait <id>")
    .description("wait for a job to end, following the engine's event stream (exit status 1 when it failed)")
    .action(async (id: string) => {
      const g = globals();
      const client = clientFor(g);
      // The event stream shows progress as it happens and costs no polling.
      const done = await waitWithProgress(client, await client.jobs.get(id), g.json, true);
      print(g.json, done, (j) => `job ${j.id} ${j.state}`);
    });
  job.command("cancel <id>")
    .description("cancel a job")
    .action(async (id: string) => {
      const g = globals();
      print(g.json, await clientFor(g).jobs.cancel(id), (j) => `job ${j.id} ${j.cancel_requested ? "cancelling" : j.state}`);
    });
}
