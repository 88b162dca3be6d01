import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ClonefleetClient } from "../client";

export const DEFAULT_PORT = 7420;
export const DEFAULT_ENDPOINT = `http://127.0.0.1:${DEFAULT_PORT}`;

export interface GlobalOptions {
  endpoint?: string;
  token?: string;
  tokenFile?: string;
  stateDir?: string;
  json?: boolean;
}

/**
 * The endpoint and token a command uses: flags first (`--token`, `--token-file`), then
 * `CLONEFLEET_ENDPOINT` / `CLONEFLEET_TOKEN` / `CLONEFLEET_TOKEN_FILE`, then the token file of
 * `--state-dir` when one is given. Throws when both token flags are given, or a token file
 * named by a flag or the environment cannot be read or holds no single token.
 */
export function resolveConnection(opts: GlobalOptions, env = process.env): { endpoint: string; token: string | null } {
  const endpoint = opts.endpoint ?? env.CLONEFLEET_ENDPOINT ?? DEFAULT_ENDPOINT;
  if (opts.token !== undefined && opts.tokenFile !== undefined) throw new Error("--token and --token-file: give one of them, not both");
  let token =
    opts.token ??
    (opts.tokenFile !== undefined ? readTokenFile("--token-file", opts.tokenFile) : null) ??
    (env.CLONEFLEET_TOKEN || null) ??
    (env.CLONEFLEET_TOKEN_FILE ? readTokenFile("CLONEFLEET_TOKEN_FILE", env.CLONEFLEET_TOKEN_FILE) : null);
  if (!token && opts.stateDir) {
    try {
      token = readFileSync(path.join(opts.stateDir, "token"), "utf8").trim() || null;
    } catch {
      token = null;
    }
  }
  return { endpoint, token };
}

/**
 * Reads the token from `file` (`-`: standard input), so it never appears on a command line;
 * throws an error naming `source` when it cannot be read or does not hold one token.
 */
function readTokenFile(source: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${source}: cannot read ${file === "-" ? "standard input" : file}: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  const token = text.trim();
  if (token === "" || /\s/.test(token)) throw new Error(`${source}: ${file === "-" ? "standard input" : file} must hold one token (got ${token === "" ? "nothing" : "several words"})`);
  return token;
}

/** A client for the resolved connection. */
export function clientFor(opts: GlobalOptions): ClonefleetClient {
  const { endpoint, token } = resolveConnection(opts);
  return new ClonefleetClient({ endpoint, token });
}
