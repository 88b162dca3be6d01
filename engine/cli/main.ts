import { Command, CommanderError, Option } from "commander";
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
import { registerInventoryCommands } from "./commands/inventory";
import { registerTokenCommands } from "./commands/token";

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
  const globals = () => globalOptions(program);
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
  registerInventoryCommands(program, globals);
  registerTokenCommands(program, globals);
  for (const c of program.commands) {
    c.exitOverride();
    for (const sub of c.commands) sub.exitOverride();
  }
  acceptGlobalsAnywhere(program);
  return program;
}

/** The options each command leaf copied from the program, by attribute name (see acceptGlobalsAnywhere). */
const copiedGlobals = new WeakMap<Command, string[]>();
/** The leaf command that runs, per program, once commander picked it. */
const running = new WeakMap<Command, Command>();

/**
 * Lets the global options follow the command too (`clonefleet vm ls --json`), as users type
 * them: each leaf command gets a hidden copy of every global option it does not define itself
 * (`engine serve --state-dir` keeps its own meaning). The program keeps positional options, so
 * a leaf's options are never taken for the program's.
 */
function acceptGlobalsAnywhere(program: Command): void {
  const leaves = (c: Command): Command[] => (c.commands.length === 0 ? [c] : c.commands.flatMap(leaves));
  for (const leaf of program.commands.flatMap(leaves)) {
    const added: string[] = [];
    for (const g of program.options) {
      if (leaf.options.some((o) => o.long === g.long)) continue;
      leaf.addOption(new Option(g.flags, g.description).hideHelp());
      added.push(g.attributeName());
    }
    copiedGlobals.set(leaf, added);
    leaf.configureHelp({ showGlobalOptions: true });
  }
  program.hook("preAction", (_program, action) => {
    running.set(program, action);
  });
}

/** The global options of the run: given before the command, or after it (those win). */
function globalOptions(program: Command): GlobalOptions {
  const merged: Record<string, unknown> = { ...program.opts() };
  const action = running.get(program);
  if (action) {
    const own = action.opts();
    for (const name of copiedGlobals.get(action) ?? []) if (own[name] !== undefined) merged[name] = own[name];
  }
  return merged as GlobalOptions;
}

/** A typed error's own `CF_…` code (local commands such as `inventory migrate` throw them), else CF_ERROR. */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && code.startsWith("CF_") ? code : "CF_ERROR";
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
    const json = globalOptions(program).json;
    const body =
      err instanceof ApiError
        ? { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) }
        : err instanceof ApiUnreachableError
          ? { code: "CF_UNREACHABLE", message: err.message }
          : err instanceof JobTimeoutError
            ? { code: "CF_TIMEOUT", message: err.message }
            : { code: codeOf(err), message: err instanceof Error ? err.message : String(err) };
    process.stderr.write(json ? `${JSON.stringify({ error: body })}\n` : `error: ${body.code}: ${body.message}\n`);
    process.exitCode = 1;
  }
}
