/**
 * An instant-clone child before it is a VM: the plan of one a request is about to make, and the
 * pre-started ones a host keeps (WarmChildren). Types only, so the op context can name the
 * host's source of pre-started children without importing the ops that use it.
 */
import type { QemuProcess } from "../hypervisor";

/** One child an instant-clone request is about to make (or a pre-started one, see WarmChildren). */
export interface ChildPlan {
  id: string;
  name: string;
  layerId: string;
  home: string;
  disk: string;
  stateDir: string;
}

/**
 * Pre-started children of parents, kept by the engine host (WarmChildren): QEMU up with the
 * child's own overlay and identity and the parent's state loaded, paused. A request takes them
 * before it starts any child of its own, and only resumes them.
 */
export interface WarmChildSource {
  /** Hands over up to `n` pre-started children of a parent; they are the caller's from then on. */
  take(parentId: string, n: number): WarmChild[];
  /** How many pre-started children of a parent are ready on this host. */
  readyCount(parentId: string): number;
  /** Asks for a look at the parents' warm counts soon (after children were taken or a count changed). */
  nudge(): void;
  /** Kills a deleted parent's pre-started children and removes their files, before its datastore can go too. */
  release(parentId: string): Promise<void>;
}

/** A pre-started child: its plan (the name is a placeholder until taken) and its QEMU, connected, paused with the parent's state loaded. */
export interface WarmChild {
  plan: ChildPlan;
  proc: QemuProcess;
  /** The engine folder of the datastore the child's home lies in. */
  engineRoot: string;
}
