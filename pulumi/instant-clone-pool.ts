/**
 * `clonefleet:index:InstantClonePool`: a component that captures a running VM as an
 * instant-clone parent and starts N instant clones of it. Runs in the program process; its
 * children are the InstantCloneParent and Vm resources.
 */
import * as pulumi from "@pulumi/pulumi";
import { MAX_INSTANT_CLONES_PER_REQUEST, MAX_WARM_CHILDREN } from "../engine/model/instant-clone";
import { intRangeProblem, namePrefixProblem, nameProblem } from "../engine/model/rules";
import type { ConnectionArgs } from "./connection";
import { InstantCloneParent } from "./instant-clone-parent";
import { Vm } from "./vm";

/** Arguments of an InstantClonePool. */
export interface InstantClonePoolArgs extends ConnectionArgs {
  /** The running VM to capture: a Vm resource (declared `powerState: "running"`) or its id. */
  source: Vm | pulumi.Input<string>;
  /** The parent's name (unique among parents). */
  parentName: string;
  /** Instant clones to start from it (0–256). */
  cloneCount: number;
  /** Clones are named `<namePrefix>-<n>`, n from 1 (default: `parentName`). */
  namePrefix?: string;
  /** Where the parent's RAM file lives: `tmpfs` or `datastore` (default: the engine's setting). */
  ramLocation?: pulumi.Input<string>;
  /**
   * Children each engine host keeps pre-started for the parent (0–64, default 0): QEMU already up
   * with the parent's state loaded, paused, so a scale-up (a larger `cloneCount`) only resumes
   * each new clone instead of starting QEMU and loading the state first. Each costs an idle QEMU process's memory.
   * Changed in place.
   */
  warmCount?: pulumi.Input<number>;
}

/**
 * "These many running copies of that VM, without booting them" in one call: a parent captured
 * from the source and `cloneCount` running instant clones of it. Throws at construction,
 * naming each argument at fault, when plain arguments are wrong.
 */
export class InstantClonePool extends pulumi.ComponentResource {
  readonly parentObject: InstantCloneParent;
  /** The instant clones, `<namePrefix>-1` first. */
  readonly clones: Vm[];
  /** The clones' ids, in the order of `clones`. */
  readonly cloneIds: pulumi.Output<string[]>;

  constructor(name: string, args: InstantClonePoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("clonefleet:index:InstantClonePool", name, {}, opts);
    const problems = instantClonePoolArgsProblems(args);
    if (problems.length > 0) throw new Error(`InstantClonePool ${name}: ${problems.join("; ")}`);
    const connection: ConnectionArgs = { endpoint: args.endpoint, token: args.token };
    const sourceVmId = args.source instanceof Vm ? args.source.id : pulumi.output(args.source);
    this.parentObject = new InstantCloneParent(`${name}-parent`, { ...connection, sourceVmId, name: args.parentName, ramLocation: args.ramLocation, warmCount: args.warmCount }, { parent: this });
    const prefix = args.namePrefix ?? args.parentName;
    this.clones = Array.from(
      { length: args.cloneCount },
      (_, i) => new Vm(`${name}-clone-${i + 1}`, { ...connection, name: `${prefix}-${i + 1}`, instantCloneOf: this.parentObject.id, powerState: "running" }, { parent: this }),
    );
    this.cloneIds = pulumi.all(this.clones.map((c) => c.id));
    this.registerOutputs({ parentId: this.parentObject.id, cloneIds: this.cloneIds });
  }
}

/** Every problem of an InstantClonePool's plain arguments, each naming the argument; Outputs are left for the providers' checks. */
export function instantClonePoolArgsProblems(args: InstantClonePoolArgs): string[] {
  const problems: string[] = [];
  const add = (where: string, problem: string | null) => {
    if (problem) problems.push(`${where} ${problem}`);
  };
  const plain = (v: unknown): boolean => !pulumi.Output.isInstance(v) && !(v instanceof Promise);
  if (!(args.source instanceof Vm) && plain(args.source) && (typeof args.source !== "string" || args.source === "")) problems.push("source must be a Vm or a VM id");
  add("parentName", nameProblem(args.parentName));
  add("cloneCount", intRangeProblem(args.cloneCount, { min: 0, max: MAX_INSTANT_CLONES_PER_REQUEST }));
  if (args.namePrefix !== undefined) add("namePrefix", namePrefixProblem(args.namePrefix));
  else if (!nameProblem(args.parentName)) add("parentName", namePrefixProblem(args.parentName));
  if (args.ramLocation !== undefined && plain(args.ramLocation) && !["tmpfs", "datastore"].includes(args.ramLocation as string)) {
    problems.push(`ramLocation must be one of tmpfs, datastore (got ${JSON.stringify(args.ramLocation)})`);
  }
  if (args.warmCount !== undefined && plain(args.warmCount)) add("warmCount", intRangeProblem(args.warmCount, { min: 0, max: MAX_WARM_CHILDREN }));
  return problems;
}
