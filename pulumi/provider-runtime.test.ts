import { ApiError, ApiUnreachableError, JobFailedError, JobTimeoutError } from "../engine/client";
import { camelCaseField, connect, goneError, providerError } from "./provider-runtime";

test("engine errors become one CF_ sentence naming the input in camelCase", () => {
  const err = providerError(new ApiError(400, "CF_INVALID_FIELD", "source_path: cannot read /x: no such file", "source_path"), 'create template "t"');
  expect(err.message).toBe('CF_INVALID_FIELD: cannot create template "t": sourcePath: cannot read /x: no such file');
  expect(err.stack).toBe(err.message);
  const conflict = providerError(new ApiError(409, "CF_CONFLICT", "a datastore named \"a\" already exists", "name"), 'create datastore "a"');
  expect(conflict.message).toBe('CF_CONFLICT: cannot create datastore "a": a datastore named "a" already exists (input name)');
});

test("job failures keep the job's code", () => {
  const err = providerError(new JobFailedError("job-1", "failed", "CF_INTERNAL", "converting: boom"), "create template");
  expect(err.message).toBe("CF_INTERNAL: cannot create template: job job-1 failed: converting: boom");
  expect(providerError(new JobTimeoutError("job-2", 5000), "x").message).toMatch(/^CF_JOB_TIMEOUT: cannot x: job job-2 did not finish/);
});

test("auth and reachability problems say what to set", () => {
  expect(providerError(new ApiError(401, "CF_UNAUTHORIZED", "the API token is wrong"), "read datastore d", "http://h:1").message).toMatch(
    /^CF_UNAUTHORIZED: cannot read datastore d: the clonefleet engine at http:\/\/h:1 refused the API token .*CLONEFLEET_TOKEN/,
  );
  expect(providerError(new ApiUnreachableError("http://h:1", "connect ECONNREFUSED"), "read datastore d").message).toMatch(
    /^CF_UNREACHABLE: .*http:\/\/h:1 \(connect ECONNREFUSED\); start it with `clonefleet engine serve`/,
  );
  expect(providerError(new TypeError("boom"), "x").message).toBe("CF_INTERNAL: cannot x: boom");
  expect(goneError("template", "tpl-1", "update template tpl-1").message).toMatch(/^CF_NOT_FOUND: .*tpl-1 was removed outside clonefleet/);
});

test("field names and connection fallbacks", () => {
  expect(camelCaseField("datastore_ids[1]")).toBe("datastoreIds[1]");
  expect(connect({ endpoint: "http://a:1/" }, {}).endpoint).toBe("http://a:1");
  expect(connect({}, { CLONEFLEET_ENDPOINT: "http://b:2" }).endpoint).toBe("http://b:2");
  expect(connect(undefined, {}).endpoint).toBe("http://127.0.0.1:7420");
});
