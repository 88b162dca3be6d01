import { checkMissingAck, checkNotifyTimeout } from "./migrate-source";

test("a notice timeout is whole seconds from 0 to 3600; the error names the field as the user wrote it", () => {
  expect(checkNotifyTimeout(0, "notify_timeout_seconds")).toBe(0);
  expect(checkNotifyTimeout(3600, "notify_timeout_seconds")).toBe(3600);
  for (const bad of [-1, 3601, 1.5, "30", null]) {
    expect(() => checkNotifyTimeout(bad, "migration_notify_timeout_seconds")).toThrow(expect.objectContaining({ code: "CF_INVALID_FIELD", field: "migration_notify_timeout_seconds" }));
  }
});

test("the missing-acknowledgement policy is abort or proceed", () => {
  expect(checkMissingAck("abort", "on_missing_ack")).toBe("abort");
  expect(checkMissingAck("proceed", "on_missing_ack")).toBe("proceed");
  expect(() => checkMissingAck("wait", "on_missing_ack")).toThrow(/on_missing_ack: must be one of abort, proceed \(got "wait"\)/);
});
