/**
 * Where a VM runs and its migration policy, as the declarative faces (Terraform, Pulumi) bring
 * a VM to what was declared (S6): a pure planner that turns the VM as it is and the declaration
 * into ordered steps, and the code that carries them out through the API. A change of host is a
 * live migration, so only a running VM moves: a stopped VM that is to stay stopped is refused
 * (the engine has no way to re-place a stopped VM, and starting it only to move it would run
 * what the user asked to keep off).
 */
import { ApiError, JobFailedError } from "./errors";
import type { ClonefleetClient, JobWire, UpdateVmBody, VmWire } from "./index";

/** What a face declares about a VM's placement, power and migration policy. */
export interface PlacementWant {
  /** The host to run on; null leaves the VM on the host it is on. */
  hostId: string | null;
  /** `running` or `stopped`. */
  powerState: string;
  /** Seconds the guest gets to acknowledge a migration notice; null leaves the VM's policy. */
  migrationNotifyTimeoutSeconds: number | null;
  /** `abort` or `proceed` without the acknowledgement; null leaves the VM's policy. */
  migrationOnMissingAck: string | null;
  /** Restart on another host when its host is lost; null (or absent) leaves the VM's setting. */
  haRestart?: boolean | null;
}

/** The part of a VM the planner looks at. */
export type PlacedVm = Pick<VmWire, "name" | "host_id" | "power_state" | "migration_notify_timeout_seconds" | "migration_on_missing_ack"> & Partial<Pick<VmWire, "ha_restart">>;

/** One step towards the declaration, in the order they run. */
export type PlacementStep =
  | { kind: "set_policy"; body: UpdateVmBody }
  | { kind: "start" }
  | { kind: "migrate"; fromHostId: string; toHostId: string }
  | { kind: "stop" };

/**
 * The steps that bring `vm` to `want`: the policy first (a migration in the same change then
 * follows the new one), then a start when the VM must run, the migration, and a stop when it
 * must end stopped. Throws a 409 ApiError naming `host_id` for a stopped VM that is to move but
 * stay stopped; it changes nothing then.
 */
export function planPlacement(vm: PlacedVm, want: PlacementWant): PlacementStep[] {
  const steps: PlacementStep[] = [];
  const policy: UpdateVmBody = {};
  if (want.migrationNotifyTimeoutSeconds !== null && want.migrationNotifyTimeoutSeconds !== vm.migration_notify_timeout_seconds) {
    policy.migration_notify_timeout_seconds = want.migrationNotifyTimeoutSeconds;
  }
  if (want.migrationOnMissingAck !== null && want.migrationOnMissingAck !== vm.migration_on_missing_ack) {
    policy.migration_on_missing_ack = want.migrationOnMissingAck;
  }
  if (want.haRestart !== null && want.haRestart !== undefined && want.haRestart !== (vm.ha_restart ?? false)) policy.ha_restart = want.haRestart;
  if (Object.keys(policy).length > 0) steps.push({ kind: "set_policy", body: policy });

  const moving = want.hostId !== null && want.hostId !== vm.host_id;
  let running = vm.power_state === "running";
  if (moving) {
    if (!running && want.powerState !== "running") {
      throw new ApiError(
        409,
        "CF_CONFLICT",
        `host_id: VM ${vm.name} is stopped on host ${vm.host_id}, and only a running VM moves to another host (a live migration). ` +
          `Declare it running in the same change (it starts on ${vm.host_id}, then migrates to ${want.hostId}), or declare host ${vm.host_id} again.`,
        "host_id",
      );
    }
    if (!running) {
      steps.push({ kind: "start" });
      running = true;
    }
    steps.push({ kind: "migrate", fromHostId: vm.host_id, toHostId: want.hostId! });
  }
  if (want.powerState === "running" && !running) steps.push({ kind: "start" });
  if (want.powerState !== "running" && running) steps.push({ kind: "stop" });
  return steps;
}

/** How applyPlacement waits for a migration job (the face's own deadline and cancellation). */
export interface PlacementOptions {
  /** Aborts the wait (the job keeps running on the engine; the error names it). */
  signal?: AbortSignal;
  /** The longest wait for a migration job. */
  timeoutMs?: number;
}

/**
 * Refuses (404 naming `host_id`, listing the hosts there are) a host the engine does not know,
 * before anything changes.
 */
export async function checkHostKnown(client: ClonefleetClient, hostId: string): Promise<void> {
  if (await client.hosts.get(hostId)) return;
  const known = (await client.hosts.list()).map((h) => h.id);
  throw new ApiError(404, "CF_NOT_FOUND", `host_id: no host ${JSON.stringify(hostId)} on the engine (its hosts: ${known.join(", ") || "none"})`, "host_id");
}

/**
 * Carries out `steps` on VM `vm` in order and answers with the VM as it is afterwards. A failed
 * or refused migration throws an ApiError naming `host_id` whose message says where the VM
 * runs on; steps before it stay done.
 */
export async function applyPlacement(client: ClonefleetClient, vm: VmWire, steps: readonly PlacementStep[], opts: PlacementOptions = {}): Promise<VmWire> {
  let v = vm;
  for (const step of steps) {
    switch (step.kind) {
      case "set_policy":
        v = await client.vms.update(v.id, step.body);
        break;
      case "start":
        v = await client.vms.start(v.id);
        break;
      case "stop":
        v = await client.vms.stop(v.id);
        break;
      case "migrate":
        v = await migrate(client, v, step, opts);
        break;
    }
  }
  return v;
}

async function migrate(client: ClonefleetClient, v: VmWire, step: { fromHostId: string; toHostId: string }, opts: PlacementOptions): Promise<VmWire> {
  const what = `moving VM ${v.name} from host ${step.fromHostId} to host ${step.toHostId}`;
  let job: JobWire;
  try {
    job = await client.vms.migrate(v.id, { host_id: step.toHostId });
  } catch (err) {
    throw onHostId(err, `${what} was refused`);
  }
  try {
    await waitForJob(client, job, what, opts);
  } catch (err) {
    if (err instanceof JobFailedError) throw onHostId(err, `${what} failed (job ${err.jobId} ${err.state})`);
    throw err;
  }
  const moved = await client.vms.get(v.id);
  if (!moved) throw new ApiError(404, "CF_NOT_FOUND", `VM ${v.id} vanished while ${what}`, "id");
  return moved;
}

/** The engine's error for a migration, restated as the declared `host_id`'s: that is the change that failed. */
function onHostId(err: unknown, what: string): unknown {
  if (!(err instanceof ApiError)) return err;
  const message = err.message.replace(/^job \S+ \w+: /, "").replace(/^host_id: /, "");
  return new ApiError(err.status, err.code, `host_id: ${what}: ${message}`, "host_id");
}

/**
 * Waits for a job until it ends, `opts.timeoutMs` passes or `opts.signal` aborts; throws
 * JobFailedError when it failed, and otherwise an error naming the job, which keeps running.
 */
async function waitForJob(client: ClonefleetClient, job: JobWire, what: string, opts: PlacementOptions): Promise<JobWire> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30 * 60_000);
  const leftRunning = (why: string) =>
    new Error(`${what} was not finished when the wait ended (${why}). Job ${job.id} keeps running on the engine: follow it with \`clonefleet job show ${job.id}\`.`);
  const aborted = new Promise<never>((_, reject) => {
    const signal = opts.signal;
    if (!signal) return;
    const stop = () => reject(leftRunning(signal.reason instanceof Error ? signal.reason.message : "the provider stopped"));
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  });
  // Settled through the race below; this only keeps a late abort from counting as unhandled.
  aborted.catch(() => undefined);
  for (let current = job; ; ) {
    if (current.state === "succeeded") return current;
    if (current.state === "failed" || current.state === "cancelled") {
      throw new JobFailedError(current.id, current.state, current.error?.code ?? "CF_INTERNAL", current.error?.message ?? current.state, current.error?.field);
    }
    const left = deadline - Date.now();
    if (left <= 0) throw leftRunning(`after ${opts.timeoutMs ?? 0} ms`);
    current = await Promise.race([client.jobs.waitOnce(job.id, Math.max(1, Math.min(2, Math.ceil(left / 1000)))), aborted]);
  }
}
