/**
 * How the provider reaches the engine: the typed HTTP client, configured from the provider
 * block or the environment, checked once per provider process.
 */
import { ApiError, ApiUnreachableError, ClonefleetClient } from "../engine/client";
import type { Diagnostics, Planned } from "./framework";

export const DEFAULT_ENDPOINT = "http://127.0.0.1:7420";

/** The provider block's attributes. */
export interface ProviderModel {
  endpoint: string | null;
  token: string | null;
}

/**
 * Builds the client from configuration (then `CLONEFLEET_ENDPOINT` / `CLONEFLEET_TOKEN`) and
 * asks the engine who it is, so that a wrong token or an unreachable engine is one clear
 * configuration error naming the attribute. Returns undefined when it reported an error.
 */
export async function configureClient(config: Planned<ProviderModel>, diags: Diagnostics, env = process.env): Promise<ClonefleetClient | undefined> {
  const endpoint = config.endpoint ?? env.CLONEFLEET_ENDPOINT ?? DEFAULT_ENDPOINT;
  const token = config.token ?? env.CLONEFLEET_TOKEN ?? null;
  try {
    const url = new URL(endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`unsupported scheme ${url.protocol}`);
  } catch (err) {
    diags.error("Invalid clonefleet endpoint", `endpoint must be an http(s) URL such as ${DEFAULT_ENDPOINT}: ${(err as Error).message}`, "endpoint");
    return undefined;
  }
  const client = new ClonefleetClient({ endpoint, token, retries: 3 });
  try {
    await client.engine();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      diags.error(
        "Invalid clonefleet token",
        `The engine at ${endpoint} refused the token (${err.message}). Set token in the provider block or CLONEFLEET_TOKEN; the engine keeps it in <state-dir>/token.`,
        "token",
      );
    } else if (err instanceof ApiUnreachableError) {
      diags.error("Cannot reach the clonefleet engine", `${err.message}. Start it with \`clonefleet engine serve\` or set endpoint / CLONEFLEET_ENDPOINT.`, "endpoint");
    } else {
      diags.error("Cannot configure the clonefleet provider", err instanceof Error ? err.message : String(err));
    }
    return undefined;
  }
  return client;
}

/** Waits for a job within the operation's time limit. */
export function jobTimeout(timeoutMs: number | undefined): number {
  return timeoutMs ?? 30 * 60_000;
}
