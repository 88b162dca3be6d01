/**
 * How the rule book reads a face's configuration. Each face names attributes its own way
 * (Terraform snake_case, Pulumi camelCase) and marks values that are not known yet its own way
 * (Terraform: an unknown cty value, decoded as undefined; Pulumi: its UNKNOWN_VALUE during
 * preview), so the rules take both as a `Face` and speak in the face's words.
 */

/** One problem with a configuration: the attribute path in the face's naming, a short summary and the reason. */
export interface RuleProblem {
  /** Such as `template_id` or `datastoreIds[1]`. */
  attribute: string;
  /** A title for the problem, such as "Conflicting VM source". */
  summary: string;
  /** What is wrong, as a sentence about the attribute ("must be unset when fork_of is set: …"). */
  reason: string;
}

/** What a face tells the rules about its configuration. */
export interface Face {
  /** True for a value that is not known yet (it will be at apply). */
  isUnknown(value: unknown): boolean;
  /** The face's name for a rule-book (snake_case) attribute name. */
  attr(name: string): string;
}

/** Terraform's naming and unknowns: snake_case names; the framework decodes an unknown value as undefined, a null one as null. */
export const TERRAFORM_FACE: Face = {
  isUnknown: (v) => v === undefined,
  attr: (name) => name,
};

/** The problem sentence for a value, or null; the rules attach the attribute. */
export type ValueProblem = (value: unknown) => string | null;

/** A configuration read through a face: values by rule-book name, and the problems found so far. */
export class RuleReader {
  readonly problems: RuleProblem[] = [];

  constructor(
    private readonly config: Readonly<Record<string, unknown>>,
    readonly face: Face,
  ) {}

  /** The face's name of `name`, for paths and sentences. */
  n(name: string): string {
    return this.face.attr(name);
  }

  /** The value of attribute `name` (rule-book naming). */
  value(name: string): unknown {
    return this.config[this.n(name)];
  }

  /** Known and neither null nor absent. */
  isSet(name: string): boolean {
    return knownValue(this.face, this.value(name));
  }

  /** Known to be null or absent (an unknown value may still turn out set). */
  isUnset(name: string): boolean {
    const v = this.value(name);
    return !this.face.isUnknown(v) && (v === null || v === undefined);
  }

  /** Adds a problem for `attribute` (a path in the face's naming). */
  add(attribute: string, summary: string, reason: string): void {
    this.problems.push({ attribute, summary, reason });
  }

  /** Runs `problem` on the value of `name` when it is known and set; adds what it finds. */
  check(name: string, summary: string, problem: ValueProblem): void {
    if (!this.isSet(name)) return;
    const p = problem(this.value(name));
    if (p) this.add(this.n(name), summary, p);
  }
}

/** True for a value that is known and neither null nor absent. */
export function knownValue(face: Face, v: unknown): boolean {
  return !face.isUnknown(v) && v !== null && v !== undefined;
}
