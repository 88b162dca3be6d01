import { readFileSync } from "node:fs";
import * as path from "node:path";
import { ClonefleetClient } from "../client";

export const DEFAULT_PORT = 7420;
export const DEFAULT_ENDPOINT = `http://127.0.0.1:${DEFAULT_PORT}`;

export interface GlobalOptions {
  endpoint?: string;
  token?: string;
  stateDir?: string;
  json?: boolean;
}

/**
 * The endpoint and token a command uses: flags first, then `CLONEFLEET_ENDPOINT` /
 * `CLONEFLEET_TOKEN`, then the token file of `--state-dir` when one is given.
 */
export function resolveConnection(opts: GlobalOptions, env = process.env): { endpoint: string; token: string | null } {
  const endpoint = opts.endpoint ?? env.CLONEFLEET_ENDPOINT ?? DEFAULT_ENDPOINT;
  let token = opts.token ?? env.CLONEFLEET_TOKEN ?? null;
  if (!token && opts.stateDir) {
    try {
      token = readFileSync(path.join(opts.stateDir, "token"), "utf8").trim() || null;
    } catch {
      token = null;
    }
  }
  return { endpoint, token };
}

/** A client for the resolved connection. */
export function clientFor(opts: GlobalOptions): ClonefleetClient {
  const { endpoint, token } = resolveConnection(opts);
  return new ClonefleetClient({ endpoint, token });
}
