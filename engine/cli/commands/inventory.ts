import type { Command } from "commander";
import { statSync } from "node:fs";

/** `clonefleet inventory migrate`: runs locally, against database files and servers, not through an engine. */
export function registerInventoryCommands(program: Command, globals: () => { json?: boolean }): void {
  const inventory = program.command("inventory").description("move the inventory between databases");
  inventory
    .command("migrate")
    .description("copy a single-machine SQLite inventory into an empty PostgreSQL database (stop the engine first)")
    .requiredOption("--from <file>", "the SQLite inventory file (inventory.db in the engine's state folder)")
    .requiredOption("--to <url>", "postgres://user:password@host:port/database of an empty database")
    .action(async (opts: { from: string; to: string }) => {
      const source = sourceFileProblem(opts.from);
      if (source) throw new Error(`--from: ${source}`);
      if (!/^postgres(ql)?:\/\//.test(opts.to)) throw new Error(`--to: expected a postgres:// URL, got ${JSON.stringify(opts.to.replace(/:[^:@/]*@/, ":***@"))}`);
      // Loaded here: every other command would pay for the database drivers.
      const { SqliteDriver } = await import("../../store/sql/sqlite-driver");
      const { PostgresDriver } = await import("../../store/sql/postgres-driver");
      const { copyInventory } = await import("../../store/sql/inventory-copy");
      const from = SqliteDriver.open(opts.from, { mustExist: true });
      try {
        const to = await PostgresDriver.open(opts.to, { max: 1 });
        try {
          const report = await copyInventory(from, to);
          if (globals().json) {
            process.stdout.write(`${JSON.stringify({ from: from.location, to: to.location, ...report }, null, 2)}\n`);
            return;
          }
          const width = Math.max(...Object.keys(report.rows).map((t) => t.length));
          process.stdout.write(`copied ${from.location} into ${to.location} (schema ${report.schemaVersion}), checked row for row:\n`);
          for (const [table, n] of Object.entries(report.rows)) process.stdout.write(`  ${table.padEnd(width)}  ${n}\n`);
        } finally {
          await to.close();
        }
      } finally {
        await from.close();
      }
    });
}

function sourceFileProblem(file: string): string | null {
  try {
    const st = statSync(file);
    return st.isFile() ? null : `${file} is not a regular file`;
  } catch {
    return `${file} does not exist`;
  }
}
