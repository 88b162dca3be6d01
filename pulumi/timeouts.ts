/**
 * The `timeouts` input of resources whose operations wait for engine jobs. Pulumi's
 * `customTimeouts` resource option does not reach a dynamic provider (the SDK's provider server
 * drops the timeout of Create, Update and Delete requests), so the limits are an input instead,
 * with the same defaults and syntax as the Terraform face's `timeouts` block.
 */

/** One time limit: a duration such as "20m" or "1h30m" (Go syntax), or a number of seconds. */
export type OperationTimeout = string | number;

/**
 * Time limits of a resource's long operations; each defaults to the Terraform face's default for
 * the resource. A job that outlives its limit keeps running on the engine and the operation fails
 * with CF_JOB_TIMEOUT naming the job and the limit.
 */
export interface OperationTimeoutsArgs {
  create?: OperationTimeout;
  update?: OperationTimeout;
  delete?: OperationTimeout;
}
