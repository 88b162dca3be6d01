/**
 * The Terraform face of the rule book (engine/client/rules): its problems become diagnostics
 * on the attribute at fault, and reference checks run while Terraform plans.
 */
import type { ClonefleetClient } from "../../engine/client";
import { knownReferences, referenceProblems, TERRAFORM_FACE, type ReferenceKind, type RuleProblem } from "../../engine/client/rules";
import type { Diagnostics } from "../protocol/diagnostics";
import type { OperationContext, Planned } from "../framework";

type Config = Readonly<Record<string, unknown>>;

/** Adds one error diagnostic per problem: the summary, "<attribute> <reason>." and the attribute's path. */
export function reportProblems(diags: Diagnostics, problems: readonly RuleProblem[]): void {
  for (const p of problems) diags.error(p.summary, `${p.attribute} ${p.reason}.`, p.attribute);
}

/** A resource's `validate` that runs rule-book `rules` on the configuration (unknown values are undefined). */
export function validateWith<State>(rules: (config: Config, face: typeof TERRAFORM_FACE) => RuleProblem[]): (config: Planned<State>, diags: Diagnostics) => void {
  return (config, diags) => reportProblems(diags, rules(config as Config, TERRAFORM_FACE));
}

/**
 * A resource's `checkPlan`: the ids in `attributes` that the plan knows and that differ from the
 * prior state must exist on the engine, so that a wrong id fails the plan. An unreachable engine
 * fails it too: the refresh before the plan needs the engine as much.
 */
export function checkReferences<State>(
  attributes: Readonly<Record<string, ReferenceKind>>,
): (ctx: OperationContext<ClonefleetClient>, plan: Planned<State>, prior: State | null) => Promise<void> {
  return async (ctx, plan, prior) => {
    const refs = knownReferences(plan as Config, TERRAFORM_FACE, attributes, prior as Config | null);
    if (refs.length > 0) reportProblems(ctx.diagnostics, await referenceProblems(ctx.client, refs));
  };
}
