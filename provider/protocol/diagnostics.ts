/**
 * Diagnostics: what a provider tells Terraform about problems. A diagnostic has a severity, a
 * short general summary, a specific detail and, for a problem with one attribute, its path.
 */
import { PathStep, formatPath, parseFieldPath } from "./path";

/** Error diagnostics stop the run; warnings are shown and it goes on. */
export type Severity = "error" | "warning";

/** One problem report. */
export interface Diagnostic {
  severity: Severity;
  summary: string;
  detail?: string;
  path?: PathStep[];
}

/** The protocol form of a diagnostic (tfplugin6.Diagnostic as grpc-js objects). */
export interface ProtoDiagnostic {
  severity: "ERROR" | "WARNING";
  summary: string;
  detail: string;
  attribute?: { steps: ProtoPathStep[] };
}

/** The protocol form of one attribute path step. */
export type ProtoPathStep = { attribute_name: string } | { element_key_string: string } | { element_key_int: number };

function toPath(path?: PathStep[] | string): PathStep[] | undefined {
  if (path === undefined) return undefined;
  if (typeof path !== "string") return path;
  return parseFieldPath(path) ?? [{ attribute: path }];
}

/** A list of diagnostics that operations add to; validation gathers every problem before returning. */
export class Diagnostics {
  readonly items: Diagnostic[] = [];

  /** Adds an error; `path` is path steps or a field such as `datastore_ids[1]`. */
  error(summary: string, detail?: string, path?: PathStep[] | string): this {
    this.items.push({ severity: "error", summary, detail, path: toPath(path) });
    return this;
  }

  /** Adds a warning; `path` is path steps or a field such as `datastore_ids[1]`. */
  warning(summary: string, detail?: string, path?: PathStep[] | string): this {
    this.items.push({ severity: "warning", summary, detail, path: toPath(path) });
    return this;
  }

  /** Appends diagnostics gathered elsewhere. */
  add(...diags: Diagnostic[]): this {
    this.items.push(...diags);
    return this;
  }

  /** True when any error has been added. */
  hasErrors(): boolean {
    return this.items.some((d) => d.severity === "error");
  }
}

/** Converts a path to the protocol's AttributePath steps. */
export function toProtoPath(path: readonly PathStep[]): { steps: ProtoPathStep[] } {
  return {
    steps: path.map((s) => ("attribute" in s ? { attribute_name: s.attribute } : "index" in s ? { element_key_int: s.index } : { element_key_string: s.key })),
  };
}

/** Reads the protocol's AttributePath steps back into a path (used by test drivers). */
export function fromProtoPath(attr: { steps?: Record<string, unknown>[] } | null | undefined): PathStep[] | undefined {
  if (!attr || !attr.steps || attr.steps.length === 0) return undefined;
  return attr.steps.map((s) => {
    // proto-loader names the set member of the oneof in `selector`.
    const which = s.selector ?? ["attribute_name", "element_key_int", "element_key_string"].find((k) => s[k] !== undefined);
    if (which === "attribute_name") return { attribute: String(s.attribute_name) };
    if (which === "element_key_int") return { index: Number(s.element_key_int) };
    return { key: String(s.element_key_string) };
  });
}

/** Converts diagnostics to their protocol form. */
export function toProtoDiagnostics(diags: readonly Diagnostic[]): ProtoDiagnostic[] {
  return diags.map((d) => ({
    severity: d.severity === "error" ? "ERROR" : "WARNING",
    summary: d.summary,
    detail: d.detail ?? "",
    ...(d.path && d.path.length > 0 ? { attribute: toProtoPath(d.path) } : {}),
  }));
}

/** Reads protocol diagnostics back (used by test drivers). */
export function fromProtoDiagnostics(list: readonly Record<string, unknown>[] | undefined): Diagnostic[] {
  return (list ?? []).map((d) => ({
    severity: d.severity === "WARNING" || d.severity === 2 ? "warning" : "error",
    summary: String(d.summary ?? ""),
    detail: d.detail ? String(d.detail) : undefined,
    path: fromProtoPath(d.attribute as { steps?: Record<string, unknown>[] } | undefined),
  }));
}

/** Renders a diagnostic on one line for logs and test failures. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.path ? ` (at ${formatPath(d.path)})` : "";
  return `${d.severity}: ${d.summary}${d.detail ? `: ${d.detail}` : ""}${where}`;
}
