/**
 * The resource framework: define a provider, its resources and data sources in one file
 * each, and serve it as a Terraform plugin with serveProvider.
 */
import { PluginHandle, servePlugin } from "../protocol/server";
import { createLogger } from "../protocol/log";
import { Provider } from "./define";
import { providerService } from "./service";

export { required, optional, computed, optionalComputed } from "./attributes";
export type { AttributeMode, AttributeOptions, AttributeSpec } from "./attributes";
export { timeouts, parseDuration } from "./timeouts";
export type { TimeoutOperation, TimeoutsSpec } from "./timeouts";
export { defineResource, defineDataSource, defineProvider } from "./define";
export type {
  Attributes,
  ConfigureInfo,
  DataSource,
  DataSourceConfig,
  OperationContext,
  Planned,
  Provider,
  ProviderConfig,
  Resource,
  ResourceConfig,
  Result,
} from "./define";
export { defaultToDiagnostic, defaultIsNotFound, OperationAbortedError } from "./errors";
export type { ToDiagnostic, IsNotFound } from "./errors";
export { Diagnostics } from "../protocol/diagnostics";
export type { Diagnostic } from "../protocol/diagnostics";
export { providerService } from "./service";

/**
 * Runs this process as the provider's Terraform plugin (handshake, mTLS, gRPC); exits with
 * status 1 and a message when not started by Terraform. Resolves once serving.
 */
export function serveProvider<Config, Client>(provider: Provider<Config, Client>): Promise<PluginHandle> {
  const log = createLogger(`provider.terraform-provider-${provider.typeName}`);
  const service = providerService(provider as unknown as Provider<unknown, unknown>, { log });
  return servePlugin({ provider: service.handlers, onShutdown: () => service.abortAll("the provider is shutting down"), logger: log });
}
