import { execFile } from "node:child_process";
import * as path from "node:path";
import { PROJECT_ROOT } from "../../engine/version";

/** What one run of the CLI printed and how it exited. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built `bin/clonefleet` against an engine, as a user would: the endpoint from the
 * environment and the token from `--state-dir` (CLONEFLEET_TOKEN is cleared so it cannot leak in).
 * `json(args)` adds `--json`, fails on a non-zero exit and parses stdout.
 */
export function cliRunner(target: () => { endpoint: string; stateDir: string }) {
  const cli = (args: string[], env: Record<string, string> = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const { endpoint } = target();
      execFile(
        process.execPath,
        [path.join(PROJECT_ROOT, "bin", "clonefleet"), ...args],
        { env: { ...process.env, CLONEFLEET_ENDPOINT: endpoint, CLONEFLEET_TOKEN: "", ...env } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const json = async (args: string[]) => {
    const r = await cli(["--state-dir", target().stateDir, "--json", ...args]);
    if (r.code !== 0) throw new Error(`clonefleet ${args.join(" ")} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  return { cli, json };
}
