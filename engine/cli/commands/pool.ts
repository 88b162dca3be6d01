import type { Command } from "commander";
import { SingleBar, Presets } from "cli-progress";
import { clientFor, type GlobalOptions } from "../connection";
import { print, table } from "../output";
import type { ClonefleetClient, PoolWire } from "../../client";

const rows = (list: PoolWire[]) =>
  table(
    ["ID", "TEMPLATE", "DATASTORE", "SIZE", "READY", "FILLING", "STATE", "LAST ERROR"],
    list.map((p) => [p.id, p.template_id, p.datastore_id, p.size, p.ready, p.filling, p.state, p.last_error ? `${p.last_error.code}: ${p.last_error.message}` : null]),
  );

const details = (p: PoolWire) =>
  [
    rows([p]),
    "",
    p.copies.length ? table(["COPY", "CONTENT ID", "PATH"], p.copies.map((c) => [c.layer_id, c.content_id, c.path])) : "no ready copies",
    ...(p.fills.length ? ["", table(["FILLING", "PROGRESS", "STARTED"], p.fills.map((f) => [f.layer_id, `${Math.round(f.progress * 100)}%`, f.started_at]))] : []),
    ...(p.retry_at ? ["", `next attempt after ${p.retry_at} (${p.failures} failed in a row)`] : []),
  ].join("\n");

/** Integer option parser naming the flag. */
export function intOption(name: string) {
  return (v: string) => {
    if (!/^-?\d+$/.test(v)) throw new Error(`${name}: expected an integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

/**
 * Waits until a pool holds its size, drawing a bar of ready copies on a terminal (nothing with
 * --json or without a terminal); resolves with the pool, throws the client's errors.
 */
export async function waitPoolWithProgress(client: ClonefleetClient, pool: PoolWire, json?: boolean): Promise<PoolWire> {
  const bar = !json && process.stderr.isTTY ? new SingleBar({ format: " {bar} {value}/{total} ready | {message}", stream: process.stderr }, Presets.shades_classic) : null;
  bar?.start(pool.size, pool.ready, { message: pool.state });
  try {
    return await client.waitPoolReady(pool.id, {
      onProgress: (p) => {
        const filling = p.fills.map((f) => `${Math.round(f.progress * 100)}%`).join(" ");
        bar?.setTotal(p.size);
        bar?.update(p.ready, { message: p.last_error && p.state === "waiting" ? `retrying: ${p.last_error.message}` : filling ? `copying ${filling}` : p.state });
      },
    });
  } finally {
    bar?.stop();
  }
}

/** `clonefleet pool create|ls|show|resize|rm`. */
export function registerPoolCommands(program: Command, globals: () => GlobalOptions): void {
  const pool = program.command("pool").description("disk pools: template disks copied ahead of demand, refilled in the background");
  pool
    .command("create")
    .description("create a pool of ready copies of a template's disk on a datastore")
    .requiredOption("--template <id>", "template to copy")
    .requiredOption("--datastore <id>", "datastore to keep the copies on")
    .requiredOption("--size <n>", "ready copies to keep (0 to 1024)", intOption("--size"))
    .option("--wait", "wait until the pool holds its size (progress bar on a terminal)")
    .action(async (o: { template: string; datastore: string; size: number; wait?: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      let p = await client.pools.create({ template_id: o.template, datastore_id: o.datastore, size: o.size });
      if (o.wait) p = await waitPoolWithProgress(client, p, g.json);
      print(g.json, p, (x) => `pool ${x.id}: ${x.ready}/${x.size} ready${o.wait ? "" : " (filling in the background)"}`);
    });
  pool
    .command("ls")
    .description("list pools with ready and filling counts")
    .option("--template <id>", "only pools of this template")
    .option("--datastore <id>", "only pools on this datastore")
    .action(async (o: { template?: string; datastore?: string }) => {
      const g = globals();
      print(g.json, await clientFor(g).pools.list({ templateId: o.template, datastoreId: o.datastore }), rows);
    });
  pool
    .command("show <id>")
    .description("show a pool, its copies and the fills in progress")
    .action(async (id: string) => {
      const g = globals();
      const p = await clientFor(g).pools.get(id);
      if (!p) throw new Error(`pool ${id} not found`);
      print(g.json, p, details);
    });
  pool
    .command("resize <id>")
    .description("set a pool's size (also retries a pool that was backing off)")
    .requiredOption("--size <n>", "ready copies to keep (0 to 1024)", intOption("--size"))
    .option("--wait", "wait until the pool holds its size")
    .action(async (id: string, o: { size: number; wait?: boolean }) => {
      const g = globals();
      const client = clientFor(g);
      let p = await client.pools.resize(id, o.size);
      if (o.wait) p = await waitPoolWithProgress(client, p, g.json);
      print(g.json, p, (x) => `pool ${x.id}: size ${x.size}, ${x.ready} ready`);
    });
  pool
    .command("rm <id>")
    .description("delete a pool and its ready copies")
    .action(async (id: string) => {
      const g = globals();
      await clientFor(g).pools.delete(id);
      print(g.json, { removed: id }, () => `deleted pool ${id}`);
    });
}
