/**
 * Making and changing one VM the way both IaC faces declare it: from a template, a fork of a
 * VM or an instant clone of a parent, then its stop timeout, host and power. The faces map their
 * own attribute names onto a VmDeclaration and their own outputs from the VmWire answered.
 */
import { ApiError } from "./errors";
import type { ClonefleetClient, InstantCloneResultWire, VmWire } from "./index";
import { applyPlacement, checkHostKnown, planPlacement, type PlacementWant } from "./placement";

/** A VM as a configuration declares it; exactly one of the sources is set. */
export interface VmDeclaration {
  name: string;
  templateId: string | null;
  forkOf: string | null;
  instantCloneOf: string | null;
  /** pool, full or linked; for a clone of a template only. */
  cloneMode: "pool" | "full" | "linked" | null;
  datastoreId: string | null;
  /** null = the engine's default. */
  stopTimeoutSeconds: number | null;
  placement: PlacementWant;
}

/** How long to wait for the jobs, and how to make a submission safe to retry. */
export interface VmJobOptions {
  /** The longest wait for each job; it keeps running on the engine past it. */
  timeoutMs: number;
  /** Aborts a migration's wait. */
  signal?: AbortSignal;
  /** A fresh idempotency key per job submission, when the face retries them. */
  idempotencyKey?: () => string;
}

/**
 * Makes the VM `want` declares and brings it to its stop timeout, host and power; answers it.
 * An unknown host, or a fork that would have to move while stopped, is refused before anything
 * is made; a drifted record of the same name (its disk vanished) is removed first.
 */
export async function createVm(client: ClonefleetClient, want: VmDeclaration, opts: VmJobOptions): Promise<VmWire> {
  if (want.placement.hostId) await checkHostKnown(client, want.placement.hostId);
  // A fork starts on its parent's host: refuse now a child that would have to move while stopped.
  const parent = want.forkOf ? await client.vms.get(want.forkOf) : null;
  if (parent) planPlacement({ ...parent, name: want.name }, want.placement);
  const stale = (await client.vms.list()).find((v) => v.name === want.name && v.state === "drifted" && v.fleet_id === null);
  if (stale) await client.vms.delete(stale.id);
  const made = await provision(client, want, opts);
  return placeVm(client, await setStopTimeout(client, made, want.stopTimeoutSeconds), want.placement, opts);
}

/** The VM's stop timeout, host and power brought to `want`; null when the VM is gone (or its disk vanished). */
export async function updateVm(
  client: ClonefleetClient,
  id: string,
  want: Pick<VmDeclaration, "stopTimeoutSeconds" | "placement">,
  opts: VmJobOptions,
): Promise<VmWire | null> {
  const v = await client.vms.get(id);
  if (!v || v.state === "drifted") return null;
  // The timeout first: a stop in the same change waits as long as the new one says.
  return placeVm(client, await setStopTimeout(client, v, want.stopTimeoutSeconds), want.placement, opts);
}

async function provision(client: ClonefleetClient, want: VmDeclaration, opts: VmJobOptions): Promise<VmWire> {
  const key = () => opts.idempotencyKey?.();
  if (want.instantCloneOf) {
    const parentId = want.instantCloneOf;
    const job = await client.parents.clone(parentId, { names: [want.name] }, key()).catch((err: unknown) => {
      throw namingParent(err, parentId);
    });
    return ((await client.waitJob(job.id, { timeoutMs: opts.timeoutMs })).result as InstantCloneResultWire).children[0];
  }
  const job = want.forkOf
    ? await client.vms.fork(want.forkOf, { name: want.name }, key())
    : await client.vms.create(
        {
          name: want.name,
          template_id: want.templateId!,
          ...(want.datastoreId ? { datastore_id: want.datastoreId } : {}),
          clone_mode: want.cloneMode ?? "pool",
          ...(want.placement.hostId ? { host_id: want.placement.hostId } : {}),
          ...(want.placement.migrationNotifyTimeoutSeconds !== null ? { migration_notify_timeout_seconds: want.placement.migrationNotifyTimeoutSeconds } : {}),
          ...(want.placement.migrationOnMissingAck ? { migration_on_missing_ack: want.placement.migrationOnMissingAck as "abort" | "proceed" } : {}),
        },
        key(),
      );
  const done = await client.waitJob(job.id, { timeoutMs: opts.timeoutMs });
  const v = (done.result as VmWire | null) ?? (done.target_id ? await client.vms.get(done.target_id) : null);
  if (!v) throw new Error(`job ${done.id} succeeded without naming the VM it made`);
  return v;
}

/** Sets the VM's stop timeout to `want` (null = the engine's default) when it differs; answers the VM. */
async function setStopTimeout(client: ClonefleetClient, v: VmWire, want: number | null): Promise<VmWire> {
  if ((v.stop_timeout_seconds ?? null) === want) return v;
  return client.vms.update(v.id, { stop_timeout_seconds: want });
}

/**
 * Brings the VM to `want`'s policy, host and power (planPlacement says in which order); an
 * unknown host or a stopped VM that is to move but stay stopped is refused before any change.
 */
async function placeVm(client: ClonefleetClient, v: VmWire, want: PlacementWant, opts: VmJobOptions): Promise<VmWire> {
  const steps = planPlacement(v, want);
  if (steps.some((s) => s.kind === "migrate")) await checkHostKnown(client, want.hostId!);
  return applyPlacement(client, v, steps, { signal: opts.signal, timeoutMs: opts.timeoutMs });
}

/** The engine names the parent of `/parents/{id}/clones` `id` and the child `names`; a VM declares them as `instant_clone_of` and `name`. */
function namingParent(err: unknown, parentId: string): unknown {
  if (!(err instanceof ApiError)) return err;
  // The one child's name travels as `names[0]`; here it is `name`.
  if (err.field === "names" || err.field?.startsWith("names[")) return new ApiError(err.status, err.code, `name: ${err.message}`, "name");
  if (err.field !== "id") return err;
  const message = err.status === 404 ? `instant_clone_of: no instant-clone parent ${JSON.stringify(parentId)} on the engine (${err.message})` : `instant_clone_of: ${err.message}`;
  return new ApiError(err.status, err.code, message, "instant_clone_of");
}
