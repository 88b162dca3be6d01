/**
 * The plan and state rules of the framework, as pure functions over cty values:
 * - a user-set attribute is planned as configured;
 * - a computed value is unknown on create (or takes its default, unless an attribute that turns
 *   the default off is set);
 * - on update, computed values the user did not set keep their prior value when nothing
 *   changed, stay the same when marked keepPrior, and become unknown otherwise;
 * - a change to a `replace` attribute is reported in requires_replace;
 * - a plan with no changes equals the prior state exactly.
 */
import { CtyValue, fromPlain, rawEquals, toPlain } from "../protocol/cty";
import { PathStep } from "../protocol/path";
import { BlockSchema, TIMEOUTS_BLOCK, blockType } from "./schema";

/** PlanResourceChange's answer: the planned state and the attribute paths that force replacement. */
export interface PlannedChange {
  planned: CtyValue;
  requiresReplace: PathStep[][];
}

/**
 * Plans a change from prior state (null when creating) to the configuration; a null
 * proposed state plans the destroy.
 */
export function planResourceChange(schema: BlockSchema, prior: CtyValue, proposed: CtyValue, config: CtyValue): PlannedChange {
  const type = blockType(schema);
  if (proposed.isNull()) return { planned: CtyValue.nullOf(type), requiresReplace: [] };
  const creating = prior.isNull();
  const values = new Map<string, CtyValue>();
  // Computed values carried over from prior state until we know whether anything changed.
  const carried = new Set<string>();
  for (const [name, spec] of Object.entries(schema.attributes)) {
    const cfg = config.getAttr(name);
    const pri = creating ? CtyValue.nullOf(spec.type) : prior.getAttr(name);
    let v: CtyValue;
    if (spec.mode === "required" || spec.mode === "optional" || !cfg.isNull()) v = cfg;
    else if (spec.defaultValue && spec.defaultUnlessSet.every((other) => config.getAttr(other).isNull())) v = spec.defaultValue;
    else if (creating) v = CtyValue.unknownOf(spec.type);
    else {
      v = pri;
      carried.add(name);
    }
    // An equal value is planned in the prior's exact form, so that "no change" compares exactly.
    if (!creating && !carried.has(name) && v.isWhollyKnown() && rawEquals(v, pri)) v = pri;
    values.set(name, v);
  }
  if (schema.timeouts) values.set(TIMEOUTS_BLOCK, config.getAttr(TIMEOUTS_BLOCK));

  const requiresReplace: PathStep[][] = [];
  if (!creating) {
    const changed = Object.keys(schema.attributes).some((name) => !carried.has(name) && !rawEquals(values.get(name)!, prior.getAttr(name)));
    if (changed) {
      for (const name of carried) {
        if (!schema.attributes[name].keepPrior) values.set(name, CtyValue.unknownOf(schema.attributes[name].type));
      }
    }
    for (const [name, spec] of Object.entries(schema.attributes)) {
      if (spec.replace && !rawEquals(values.get(name)!, prior.getAttr(name))) requiresReplace.push([{ attribute: name }]);
    }
  }
  return { planned: CtyValue.object(values, type), requiresReplace };
}

/** True when a planned update changes nothing but the timeouts block (no call to the engine is needed). */
export function onlyTimeoutsChanged(schema: BlockSchema, prior: CtyValue, planned: CtyValue): boolean {
  return Object.keys(schema.attributes).every((name) => rawEquals(prior.getAttr(name), planned.getAttr(name)));
}

/** A state's attributes as plain JS (the resource's model): null stays null, unknown becomes undefined. */
export function toModel(schema: BlockSchema, value: CtyValue): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(schema.attributes)) out[name] = toPlain(value.getAttr(name));
  return out;
}

/**
 * Builds a new state from what an operation returned. An attribute the result leaves
 * undefined keeps `base`'s value (the plan after create/update, the prior state after read),
 * or null when that is not known; a returned value equal to base's keeps base's exact form.
 * The timeouts block comes from base. Throws CtyConversionError for a value of the wrong type.
 */
export function stateFromResult(schema: BlockSchema, base: CtyValue, result: { readonly [k: string]: unknown }): CtyValue {
  const values = new Map<string, CtyValue>();
  for (const [name, spec] of Object.entries(schema.attributes)) {
    const bv = base.getAttr(name);
    const rv = Object.prototype.hasOwnProperty.call(result, name) ? result[name] : undefined;
    let v: CtyValue;
    if (rv === undefined) v = bv.isWhollyKnown() ? bv : CtyValue.nullOf(spec.type);
    else {
      v = fromPlain(spec.type, rv, [{ attribute: name }]);
      if (bv.isWhollyKnown() && rawEquals(v, bv)) v = bv;
    }
    values.set(name, v);
  }
  if (schema.timeouts) values.set(TIMEOUTS_BLOCK, base.getAttr(TIMEOUTS_BLOCK));
  return CtyValue.object(values, blockType(schema));
}

/** The state an import starts from: the attributes importId gave, everything else null; throws CtyConversionError. */
export function stateFromImport(schema: BlockSchema, partial: { readonly [k: string]: unknown }): CtyValue {
  const values = new Map<string, CtyValue>();
  for (const [name, spec] of Object.entries(schema.attributes)) {
    values.set(name, fromPlain(spec.type, partial[name], [{ attribute: name }]));
  }
  return CtyValue.object(values, blockType(schema));
}

/**
 * A data source's state from its read result: user-set attributes stay as configured (Terraform
 * requires it), computed ones come from the result; throws CtyConversionError.
 */
export function dataStateFromResult(schema: BlockSchema, config: CtyValue, result: { readonly [k: string]: unknown }): CtyValue {
  const values = new Map<string, CtyValue>();
  for (const [name, spec] of Object.entries(schema.attributes)) {
    const cfg = config.getAttr(name);
    const rv = Object.prototype.hasOwnProperty.call(result, name) ? result[name] : undefined;
    if (spec.mode === "required" || spec.mode === "optional" || !cfg.isNull() || rv === undefined) values.set(name, cfg);
    else values.set(name, fromPlain(spec.type, rv, [{ attribute: name }]));
  }
  if (schema.timeouts) values.set(TIMEOUTS_BLOCK, config.getAttr(TIMEOUTS_BLOCK));
  return CtyValue.object(values, blockType(schema));
}

/** The path of the first unknown value inside `v`, or undefined when it is wholly known. */
export function firstUnknownPath(v: CtyValue, path: PathStep[] = []): PathStep[] | undefined {
  if (!v.isKnown()) return path;
  if (v.isNull() || v.isWhollyKnown()) return undefined;
  const kind = typeof v.type === "string" ? v.type : v.type[0];
  if (kind === "object" || kind === "map") {
    for (const [k, e] of v.entries()) {
      const p = firstUnknownPath(e, [...path, kind === "object" ? { attribute: k } : { key: k }]);
      if (p) return p;
    }
    return undefined;
  }
  const items = v.elements();
  for (let i = 0; i < items.length; i++) {
    const p = firstUnknownPath(items[i], [...path, { index: i }]);
    if (p) return p;
  }
  return undefined;
}
