/**
 * A VM's settings that change in place, without touching its QEMU: its stop timeout and its
 * migration policy (S6).
 */
import { invalidField, notFound } from "../errors";
import type { MissingAckPolicy, Vm } from "../model";
import type { Inventory } from "../store";
import { checkMissingAck, checkNotifyTimeout } from "./migrate-source";
import { getVmView, type VmView } from "./vm-view";

/** The largest stop timeout a VM may have, seconds (as a one-off stop's `timeout_seconds`). */
export const MAX_STOP_TIMEOUT_SECONDS = 3600;

/** A change of a VM's settings; an absent field is left as it is, null resets it to the default. */
export interface UpdateVmSettingsRequest {
  id: string;
  stopTimeoutSeconds?: number | null;
  migrationNotifyTimeoutSeconds?: number;
  migrationOnMissingAck?: MissingAckPolicy;
  haRestart?: boolean;
}

/** Refuses a stop timeout that is not a whole number of seconds from 0 to 3600; 400 naming `stop_timeout_seconds`. */
export function checkStopTimeoutSeconds(value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_STOP_TIMEOUT_SECONDS) {
    throw invalidField("stop_timeout_seconds", `must be a whole number of seconds from 0 to ${MAX_STOP_TIMEOUT_SECONDS}, or null for the default (got ${JSON.stringify(value)})`);
  }
  return value;
}

/** Checks a settings change, changing nothing: 404 `id` for an unknown VM, 400 naming a value out of range. */
export async function checkVmSettings(store: Inventory, req: UpdateVmSettingsRequest): Promise<void> {
  await settingsPatch(store, req);
}

/** Applies a settings change to a VM's record in one transaction and answers the VM; throws like `checkVmSettings` (nothing changed then). */
export async function updateVmSettings(store: Inventory, req: UpdateVmSettingsRequest): Promise<VmView> {
  const patch = await settingsPatch(store, req);
  await store.tx(async (s) => {
    if (!(await s.vms.get(req.id))) throw notFound("vm", req.id, "id");
    if (Object.keys(patch).length > 0) await s.vms.update(req.id, patch);
  });
  return getVmView(store, req.id);
}

async function settingsPatch(
  store: Inventory,
  req: UpdateVmSettingsRequest,
): Promise<Partial<Pick<Vm, "stopTimeoutSeconds" | "migrationNotifyTimeoutSeconds" | "migrationOnMissingAck" | "haRestart">>> {
  if (!(await store.vms.get(req.id))) throw notFound("vm", req.id, "id");
  return {
    ...(req.stopTimeoutSeconds === undefined ? {} : { stopTimeoutSeconds: checkStopTimeoutSeconds(req.stopTimeoutSeconds) }),
    ...(req.migrationNotifyTimeoutSeconds === undefined ? {} : { migrationNotifyTimeoutSeconds: checkNotifyTimeout(req.migrationNotifyTimeoutSeconds, "migration_notify_timeout_seconds") }),
    ...(req.migrationOnMissingAck === undefined ? {} : { migrationOnMissingAck: checkMissingAck(req.migrationOnMissingAck, "migration_on_missing_ack") }),
    ...(req.haRestart === undefined ? {} : { haRestart: checkHaRestart(req.haRestart) }),
  };
}

/** 400 naming `ha_restart` unless it is a boolean. */
function checkHaRestart(value: unknown): boolean {
  if (typeof value !== "boolean") throw invalidField("ha_restart", `must be true or false (got ${JSON.stringify(value)})`);
  return value;
}
