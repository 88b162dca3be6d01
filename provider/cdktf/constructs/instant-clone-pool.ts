import { Token } from "cdktf";
import { Construct } from "constructs";
import { MAX_INSTANT_CLONES_PER_REQUEST, MAX_WARM_CHILDREN } from "../../../engine/model/instant-clone";
import { intRangeProblem, namePrefixProblem, nameProblem } from "../../../engine/model/rules";
import { instantCloneParent, vm } from "../gen/providers/clonefleet";

/** Props of an InstantClonePool: which running VM to capture, and how many instant clones of it. */
export interface InstantClonePoolProps {
  /** The running VM to capture: a `vm.Vm` construct (declared `powerState: "running"`) or its id. */
  readonly source: string | vm.Vm;
  /** The parent's name (unique among parents). */
  readonly parentName: string;
  /** Instant clones to start from it (0–256). */
  readonly cloneCount: number;
  /** Clones are named `<namePrefix>-<n>`, n from 1 (default: `parentName`). */
  readonly namePrefix?: string;
  /** Where the parent's RAM file lives: `tmpfs` or `datastore` (default: the engine's setting). */
  readonly ramLocation?: "tmpfs" | "datastore";
  /**
   * Children each engine host keeps pre-started for the parent (0–64, default 0): QEMU already up
   * with the parent's state loaded, paused, so a scale-up (a larger `cloneCount`) only resumes
   * each new clone instead of starting QEMU and loading the state first. Each costs an idle QEMU process's memory.
   * Changed in place.
   */
  readonly warmCount?: number;
  /** Passed to every resource (for example a provider alias). */
  readonly provider?: vm.VmConfig["provider"];
  /** What the capture waits for (a fork of the source, say: a VM is forked or captured one at a time). */
  readonly dependsOn?: instantCloneParent.InstantCloneParentConfig["dependsOn"];
}

/**
 * "These many running copies of that VM, without booting them": an instant-clone parent
 * captured from a running VM, and `cloneCount` VMs started from it (running, each on its own
 * overlay, the parent's memory shared). Bad props are reported together when the stack is
 * synthesized.
 */
export class InstantClonePool extends Construct {
  readonly parent: instantCloneParent.InstantCloneParent;
  /** The instant clones, `<namePrefix>-1` first. */
  readonly clones: readonly vm.Vm[];
  /** The clones' ids, in the order of `clones`. */
  readonly cloneIds: readonly string[];

  constructor(scope: Construct, id: string, props: InstantClonePoolProps) {
    super(scope, id);
    this.node.addValidation({ validate: () => instantClonePoolProblems(props) });
    const sourceVmId = typeof props.source === "string" ? props.source : props.source.id;
    this.parent = new instantCloneParent.InstantCloneParent(this, "parent", {
      sourceVmId,
      name: props.parentName,
      ramLocation: props.ramLocation,
      warmCount: props.warmCount,
      provider: props.provider,
      dependsOn: props.dependsOn,
    });
    const prefix = props.namePrefix ?? props.parentName;
    // A count left to a token cannot make a list of constructs at synthesis; it is reported by the validation.
    const count = Token.isUnresolved(props.cloneCount) ? 0 : Math.max(0, Math.trunc(props.cloneCount));
    this.clones = Array.from(
      { length: count },
      (_, i) =>
        new vm.Vm(this, `clone-${i + 1}`, {
          name: `${prefix}-${i + 1}`,
          instantCloneOf: this.parent.id,
          powerState: "running",
          provider: props.provider,
        }),
    );
    this.cloneIds = this.clones.map((c) => c.id);
  }
}

/** Every problem of an InstantClonePool's props, each naming the prop; empty when all is well. Unresolved tokens are left for the apply. */
export function instantClonePoolProblems(props: InstantClonePoolProps): string[] {
  const problems: string[] = [];
  const add = (where: string, problem: string | null) => {
    if (problem) problems.push(`${where} ${problem}`);
  };
  const literal = (v: unknown): boolean => !Token.isUnresolved(v);
  if (typeof props.source === "string" && literal(props.source) && props.source === "") problems.push("source must be a VM id or a vm.Vm");
  if (literal(props.parentName)) add("parentName", nameProblem(props.parentName));
  if (Token.isUnresolved(props.cloneCount)) problems.push("cloneCount must be a number known at synthesis (it decides how many clone resources there are)");
  else add("cloneCount", intRangeProblem(props.cloneCount, { min: 0, max: MAX_INSTANT_CLONES_PER_REQUEST }));
  const prefix = props.namePrefix ?? props.parentName;
  if (props.namePrefix !== undefined && literal(props.namePrefix)) add("namePrefix", namePrefixProblem(props.namePrefix));
  else if (props.namePrefix === undefined && literal(props.parentName) && !nameProblem(props.parentName)) add("parentName", namePrefixProblem(prefix));
  if (props.ramLocation !== undefined && !["tmpfs", "datastore"].includes(props.ramLocation)) {
    problems.push(`ramLocation must be one of tmpfs, datastore (got ${JSON.stringify(props.ramLocation)})`);
  }
  if (props.warmCount !== undefined && literal(props.warmCount)) add("warmCount", intRangeProblem(props.warmCount, { min: 0, max: MAX_WARM_CHILDREN }));
  return problems;
}
