import { Command, CommanderError } from "commander";
import { ApiError, ApiUnreachableError, JobTimeoutError } from "../client";
import { ENGINE_VERSION } from "../version";
import type { GlobalOptions } from "./connection";
import { registerDatastoreCommands } from "./commands/datastore";
import { registerDiskCommands } from "./commands/disk";
import { registerEngineCommands } from "./commands/engine";
import { registerJobCommands } from "./commands/job";
import { registerTemplateCommands } from "./commands/template";
import { registerPoolCommands } from "./commands/pool";
import { registerFleetCommands } from "./commands/fleet";
import { registerVmCommands } from "./commands/vm";
import { registerReplicaCommands } from "./commands/replica";
import { registerCatalogCommands } from "./commands/catalog";
import { registerSnapshotCommands } from "./commands/snapshot";
import { registerParentCommands } from "./commands/parent";
import { registerHostCommands } from "./commands/host";

/** Builds the `clonefleet` command tree. */
export function buildProgram(): Command {
  const program = new Command("clonefleet")
    .description("declarative fleets of QEMU VMs: datastores, templates, disk chains and jobs")
    .version(ENGINE_VERSION)
    .option("--endpoint <url>", "engine API (default $CLONEFLEET_ENDPOINT or http://127.0.0.1:7420)")
    .option("--token <token>", "API token (default $CLONEFLEET_TOKEN, or the token file of --state-dir); other users see it in ps, prefer --token-file")
    .option("--token-file <path>", "read the API token from this file, or from standard input with - (default $CLONEFLEET_TOKEN_FILE)")
    .option("--state-dir <dir>", "engine state folder; its token file is used when no token is given")
    .option("--json", "print JSON")
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();
  const globals = () => program.opts<GlobalOptions>();
  registerEngineCommands(program);
  registerDatastoreCommands(program, globals);
  registerTemplateCommands(program, globals);
  registerDiskCommands(program, globals);
  registerJobCommands(program, globals);
  registerPoolCommands(program, globals);
  registerFleetCommands(program, globals);
  registerVmCommands(program, globals);
  registerReplicaCommands(program, globals);
  registerCatalogCommands(program, globals);
  registerSnapshotCommands(program, globals);
  registerParentCommands(program, globals);
  registerHostCommands(program, globals);
  for (const c of program.commands) {
    c.exitOverride();
    for (const sub of c.commands) sub.exitOverride();
  }
  return program;
}

/** Runs the CLI; errors become one line on stderr (or a JSON error with --json) and exit 1. */
export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    const json = program.opts<GlobalOptions>().json;
    const body =
      err instanceof ApiError
        ? { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) }
        : err instanceof ApiUnreachableError
          ? { code: "CF_UNREACHABLE", message: err.message }
          : err instanceof JobTimeoutError
            ? { code: "CF_TIMEOUT", message: err.message }
            : { code: "CF_ERROR", message: err instanceof Error ? err.message : String(err) };
    process.stderr.write(json ? `${JSON.stringify({ error: body })}\n` : `error: ${body.code}: ${body.message}\n`);
    process.exitCode = 1;
  }
}
