/**
 * What one host's agent asks of another's (S6), independent of how the request travels. The
 * migration's source agent drives a target agent through these four steps; ops see only this
 * interface, never a URL or an API error body.
 */
import type { CompletionOutcome } from "../hypervisor";

/** Where a target serves a VM's new disk file over NBD while a migration moves it. */
export interface NbdEndpoint {
  host: string;
  port: number;
  export: string;
}

/** A VM a source wants to migrate to the peer, optionally onto one of the peer's datastores. */
export interface IncomingRequest {
  vmId: string;
  migrationId: string;
  targetDatastoreId?: string | null;
}

/** What the target agent answers once its QEMU waits for the migration. */
export interface IncomingReady {
  uri: string;
  stateDir: string;
  pid: number;
  /** Where the target serves its new disk file, when the disk moves datastore. */
  nbd?: NbdEndpoint | null;
}

/** A target QEMU the peer started for a migration, named by its VM and state folder. */
export interface TargetDirRequest {
  vmId: string;
  stateDir: string;
  targetDatastoreId?: string | null;
}

/** A completion line for the guest of a VM on the peer, answering notice `ref`. */
export interface CompletionRequest {
  vmId: string;
  ref: string;
  outcome: CompletionOutcome;
  migrationId: string;
}

/**
 * Another host's agent. Every method throws the peer's EngineError (code and field kept, the
 * message naming the host) when the peer refuses, and CF_INTERNAL naming the host when it
 * cannot be reached in time.
 */
export interface PeerHost {
  readonly hostId: string;
  /** Starts a QEMU for the VM waiting for an incoming migration; answers where it listens. */
  prepareIncoming(req: IncomingRequest): Promise<IncomingReady>;
  /** After the stream completed: the target QEMU runs the guest; answers its pid and run state. */
  activateIncoming(req: TargetDirRequest): Promise<{ pid: number; status: string }>;
  /** Removes a target QEMU (and a disk it was moving onto) of a migration that failed. */
  abortIncoming(req: TargetDirRequest): Promise<void>;
  /** Sends the guest of a VM on the peer a migration's completion line. */
  sendCompletion(req: CompletionRequest): Promise<void>;
}
