/**
 * Attribute paths: where in a configuration or state a problem is. Terraform receives them as
 * steps (attribute name, string key, integer index); users and the engine write them as
 * fields such as `datastore_ids[1]` or `vms[0].name`.
 */

/** One step of a path into a value: an attribute name, a map key or a list index. */
export type PathStep = { attribute: string } | { key: string } | { index: number };

/** Writes a path the way users write fields: `vms[0].name`, `tags["a"]`. */
export function formatPath(path: readonly PathStep[]): string {
  let s = "";
  for (const step of path) {
    if ("attribute" in step) s += s ? `.${step.attribute}` : step.attribute;
    else if ("index" in step) s += `[${step.index}]`;
    else s += `[${JSON.stringify(step.key)}]`;
  }
  return s;
}

/**
 * Reads a field as the engine writes it (snake_case names, `[1]` list indexes, `["k"]` or
 * `[k]` map keys) into path steps; returns undefined when the text is not a field path.
 */
export function parseFieldPath(field: string): PathStep[] | undefined {
  const steps: PathStep[] = [];
  const re = /\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]|\[([^\]"]+)\]/y;
  let pos = 0;
  while (pos < field.length) {
    re.lastIndex = pos;
    const m = re.exec(field);
    if (!m || (pos === 0 && m[0].startsWith("."))) return undefined;
    if (m[1] !== undefined) steps.push({ attribute: m[1] });
    else if (m[2] !== undefined) steps.push({ index: Number(m[2]) });
    else if (m[3] !== undefined) steps.push({ key: JSON.parse(`"${m[3]}"`) as string });
    else steps.push({ key: m[4] });
    pos = re.lastIndex;
  }
  return steps.length > 0 && "attribute" in steps[0] ? steps : undefined;
}
