/**
 * The rule book both faces check configurations with: Terraform's validate and plan, Pulumi's
 * check. Pure rules on values (reading a face's naming and unknowns) plus the lookups of
 * references that a plan makes against the engine.
 */
export { knownValue, RuleReader, TERRAFORM_FACE, type Face, type RuleProblem, type ValueProblem } from "./reading";
export { CLONE_MODES, ID_MAX_LENGTH, POWER_STATES, RAM_LOCATIONS, STOP_TIMEOUT_RANGE } from "./values";
export { datastoreProblems, diskPoolProblems, replicaProblems, templateProblems } from "./storage";
export { vmMayComeFromParent, vmOrigin, vmProblems, VM_SOURCES, type VmOrigin } from "./vm";
export { fleetProblems } from "./fleet";
export { instantCloneParentProblems, snapshotProblems } from "./instant-clone";
export { knownReferences, referenceProblems, REFERENCES, type Reference, type ReferenceKind } from "./references";
export { OPERATION_TIMEOUTS, parseDuration, timeoutMs, timeoutsProblems, type TimeoutOperation } from "./timeouts";
export { cloneFleetPools, cloneFleetProblems, type CloneFleetArgsView } from "./clone-fleet";
