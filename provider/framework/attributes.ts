/**
 * Attribute builders: each schema attribute states who sets it (required, optional, computed,
 * optional+computed) and its lifecycle (replace: cannot change in place; keepPrior: a
 * server-assigned value that stays the same in plans once known).
 */
import { CtyType, CtyValue, fromPlain, parseType } from "../protocol/cty";

/** Who sets an attribute: the user (required/optional), the server (computed), or either. */
export type AttributeMode = "required" | "optional" | "computed" | "optionalComputed";

/** Options every attribute builder takes. */
export interface AttributeOptions {
  /** User documentation for the attribute (shown in docs and schema). */
  description: string;
  /** A change to this attribute replaces the resource instead of updating it in place. */
  replace?: boolean;
  /** For computed values: once known, plans keep the prior value instead of "known after apply". */
  keepPrior?: boolean;
  /** Terraform hides the value in plans and output. */
  sensitive?: boolean;
  /** The value planned when the user leaves the attribute out (makes the attribute optional+computed). */
  default?: unknown;
  /**
   * The default applies only while these attributes are null in the configuration; otherwise the
   * attribute is planned like an optional+computed one (a value that does not apply to, say, a
   * fork reads null instead of the default).
   */
  defaultUnlessSet?: readonly string[];
  /** Marks the attribute deprecated in the schema. */
  deprecated?: boolean;
}

/** One attribute's schema and plan behaviour. */
export interface AttributeSpec {
  readonly type: CtyType;
  readonly mode: AttributeMode;
  readonly description: string;
  readonly replace: boolean;
  readonly keepPrior: boolean;
  readonly sensitive: boolean;
  readonly deprecated: boolean;
  /** The default as a value of the attribute's type, when there is one. */
  readonly defaultValue?: CtyValue;
  /** Attributes whose being set in the configuration turns the default off. */
  readonly defaultUnlessSet: readonly string[];
}

function build(mode: AttributeMode, type: CtyType, opts: AttributeOptions): AttributeSpec {
  const t = parseType(type);
  if (!opts.description) throw new Error("every attribute needs a description");
  if (opts.keepPrior && mode !== "computed" && mode !== "optionalComputed") {
    throw new Error("keepPrior applies to computed attributes only");
  }
  if (opts.replace && mode === "computed") throw new Error("a computed-only attribute cannot force replacement");
  let effective = mode;
  let defaultValue: CtyValue | undefined;
  if (opts.defaultUnlessSet && opts.default === undefined) throw new Error("defaultUnlessSet needs a default");
  if (opts.default !== undefined) {
    if (mode === "required" || mode === "computed") throw new Error(`a ${mode} attribute cannot have a default`);
    defaultValue = fromPlain(t, opts.default);
    // Terraform only lets a provider plan a value the user did not write for computed attributes.
    effective = "optionalComputed";
  }
  return {
    type: t,
    mode: effective,
    description: opts.description,
    replace: opts.replace ?? false,
    keepPrior: opts.keepPrior ?? false,
    sensitive: opts.sensitive ?? false,
    deprecated: opts.deprecated ?? false,
    defaultValue,
    defaultUnlessSet: opts.defaultUnlessSet ?? [],
  };
}

/** An attribute the user must set; throws for inconsistent options. */
export function required(type: CtyType, opts: AttributeOptions): AttributeSpec {
  return build("required", type, opts);
}

/** An attribute the user may set (null otherwise, or `default`); throws for inconsistent options. */
export function optional(type: CtyType, opts: AttributeOptions): AttributeSpec {
  return build("optional", type, opts);
}

/** An attribute only the server sets; throws for inconsistent options. */
export function computed(type: CtyType, opts: AttributeOptions): AttributeSpec {
  return build("computed", type, opts);
}

/** An attribute the user may set and the server fills in when they do not; throws for inconsistent options. */
export function optionalComputed(type: CtyType, opts: AttributeOptions): AttributeSpec {
  return build("optionalComputed", type, opts);
}

/** True when the server may set the attribute. */
export function isComputed(spec: AttributeSpec): boolean {
  return spec.mode === "computed" || spec.mode === "optionalComputed";
}
