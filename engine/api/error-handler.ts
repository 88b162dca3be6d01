import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { isEngineError } from "../errors";
import { InventoryUnavailableError } from "../store";
import type { ErrorBody } from "./schemas";

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * The one place errors become HTTP answers: engine errors keep their status, code and field;
 * schema failures name the field; body problems are 400 or 413; an inventory that cannot be
 * reached is 503 (retry); anything else is a masked 500
 * carrying the request id, with the cause in the log only.
 */
export function errorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const send = (status: number, body: ErrorBody["error"]) => {
    void reply.status(status).send({ error: body } satisfies ErrorBody);
  };
  if (isEngineError(err)) {
    if (err.statusCode >= 500) req.log.error({ err }, "request failed");
    send(err.statusCode, { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
    return;
  }
  if (err instanceof InventoryUnavailableError) {
    // The database is down or restarting: worth a retry, and nothing of the request is lost.
    req.log.error({ err }, "inventory unavailable");
    void reply.header("retry-after", "2");
    send(503, { code: err.code, message: `${err.message}; try again shortly` });
    return;
  }
  if (err.validation) {
    const issue = err.validation[0] as AjvIssue;
    const context = (err as { validationContext?: string }).validationContext;
    const field = fieldOf(issue);
    const where = context === "body" ? "" : `${context ?? "request"} `;
    const message = field ? `${where}${field}: ${describe(issue)}` : `${context ?? "request"}: ${describe(issue)}`;
    send(400, { code: "CF_INVALID_FIELD", message, ...(field ? { field } : {}) });
    return;
  }
  if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    send(413, { code: "CF_PAYLOAD_TOO_LARGE", message: err.message });
    return;
  }
  if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
    // Malformed JSON, wrong content type, empty body: the body cannot be read at all.
    send(err.statusCode, { code: "CF_INVALID_BODY", message: err.message });
    return;
  }
  req.log.error({ err }, "unexpected error");
  send(500, { code: "CF_INTERNAL", message: `internal error (request ${req.id}); see the engine log`, request_id: String(req.id) });
}

/** `/datastore_ids/1` → `datastore_ids[1]`; missing and unknown properties name themselves. */
export function fieldOf(issue: AjvIssue): string | undefined {
  const segments = (issue.instancePath ?? "").split("/").filter(Boolean);
  const extra = issue.params?.missingProperty ?? issue.params?.additionalProperty;
  if (typeof extra === "string") segments.push(extra);
  if (segments.length === 0) return undefined;
  return segments.reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), "");
}

function describe(issue: AjvIssue): string {
  if (issue.keyword === "required") return "is required";
  if (issue.keyword === "additionalProperties") return "is not a known field";
  return issue.message ?? "is invalid";
}
