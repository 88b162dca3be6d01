/**
 * How a Pulumi program finds the engine: explicit args first, then the stack config
 * (`clonefleet:endpoint`, `clonefleet:token`), then `CLONEFLEET_ENDPOINT` / `CLONEFLEET_TOKEN`.
 * Runs in the program process only; the providers get the result as inputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_ENDPOINT } from "./provider-runtime";

/** Connection inputs every clonefleet resource and function accepts. */
export interface ConnectionArgs {
  /** URL of the engine API, such as http://127.0.0.1:7420; default: config, env, then that URL. */
  endpoint?: pulumi.Input<string>;
  /** API token of the engine (kept secret); default: `clonefleet:token` config, then CLONEFLEET_TOKEN. */
  token?: pulumi.Input<string>;
}

/** The resolved connection as resource inputs; the token, when there is one, is a secret. */
export interface ResolvedConnection {
  endpoint: pulumi.Input<string>;
  token: pulumi.Output<string> | undefined;
}

/** Resolves `endpoint` and `token` for a resource; call it while the program runs (it reads the stack config). */
export function resolveConnection(args: ConnectionArgs | undefined, env: NodeJS.ProcessEnv = process.env): ResolvedConnection {
  const config = new pulumi.Config("clonefleet");
  const endpoint = args?.endpoint ?? config.get("endpoint") ?? nonEmpty(env.CLONEFLEET_ENDPOINT) ?? DEFAULT_ENDPOINT;
  const token: pulumi.Input<string> | undefined = args?.token ?? config.getSecret("token") ?? nonEmpty(env.CLONEFLEET_TOKEN);
  return { endpoint, token: token === undefined ? undefined : pulumi.secret(token) };
}

/** Resolves plain `endpoint` and `token` values for a direct call such as getDiskChain. */
export function resolvePlainConnection(
  args: { endpoint?: string; token?: string } | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { endpoint: string; token: string | null } {
  const config = new pulumi.Config("clonefleet");
  return {
    endpoint: args?.endpoint ?? config.get("endpoint") ?? nonEmpty(env.CLONEFLEET_ENDPOINT) ?? DEFAULT_ENDPOINT,
    token: args?.token ?? config.get("token") ?? nonEmpty(env.CLONEFLEET_TOKEN) ?? null,
  };
}

/** Resource options with the token listed as a secret output, keeping the caller's own list. */
export function withSecretToken<T extends pulumi.CustomResourceOptions>(opts: T | undefined): T {
  const extra = opts?.additionalSecretOutputs ?? [];
  return { ...(opts ?? {}), additionalSecretOutputs: [...new Set([...extra, "token"])] } as T;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v ? v : undefined;
}
