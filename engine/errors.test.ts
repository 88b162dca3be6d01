import { conflict, EngineError, errorOfRecord, internal, invalidField, noSpace, notFound } from "./errors";

test("a failed job's recorded error becomes the EngineError it was, status and field included", () => {
  for (const e of [notFound("vm", "vm-1", "id"), invalidField("timeout_seconds", "must be from 0 to 3600"), conflict("busy"), noSpace("copying"), internal("step")]) {
    const back = errorOfRecord({ code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) });
    expect(back).toBeInstanceOf(EngineError);
    expect({ code: back.code, statusCode: back.statusCode, message: back.message, field: back.field }).toEqual({ code: e.code, statusCode: e.statusCode, message: e.message, field: e.field });
  }
});

test("an unknown recorded code answers 500 CF_INTERNAL with its message", () => {
  expect(errorOfRecord({ code: "CF_SOMETHING_NEW", message: "m" })).toMatchObject({ code: "CF_INTERNAL", statusCode: 500, message: "m" });
});
