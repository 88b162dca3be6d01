import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { SnapshotWire, VmWire } from "../../../engine/client";
import type { EngineProcess } from "../../support/engine-process";
import { guestFill, guestWrite } from "../../snapshots/helpers";
import type { SeededRandom } from "./random";

const run = promisify(execFile);

/** 64 KiB of `pattern` at `offset` of a disk, written before the job; the disk's chain must read it back afterwards. */
export interface Mark {
  offset: number;
  pattern: number;
}

/** The template's source holds this pattern over its first 16 MiB: every disk made from it reads it at 0. */
export const TEMPLATE_MARK: Mark = { offset: 0, pattern: 0x11 };
export const TEMPLATE_DATA_MB = 16;
export const DISK_SIZE_MB = 32;

const MARK_SLOT = 64 * 1024;
// Marks go in the last MiB, clear of the template's data and of a consolidation's large write.
const MARK_BASE = (DISK_SIZE_MB - 1) * 1024 * 1024;

/** A datastore of the trial, by id and root folder. */
export interface TrialDatastore {
  id: string;
  path: string;
}

/** What a scenario's setup made for its submit. */
export interface Staged {
  vm?: VmWire;
  snapshot?: SnapshotWire;
  parentId?: string;
  poolId?: string;
  replicaId?: string;
  fleetId?: string;
}

/** Everything one trial made: its engines (host `local`, and host `b` for migrations), datastores, template, and what it expects to find after the kill. */
export interface TrialWorld {
  dir: string;
  stateDir: string;
  rng: SeededRandom;
  a: EngineProcess;
  b: EngineProcess | null;
  ds1: TrialDatastore;
  ds2: TrialDatastore;
  templateId: string;
  /** Marks written into each VM's disk before the job, by VM id. */
  marks: Map<string, Mark[]>;
  /** VMs the job powers off on purpose (a capture stops its source). */
  stoppedByJob: Set<string>;
  /** A backup's target file, when the job is a backup. */
  backupTarget: string | null;
  /** What a delete job removes: the records (by id) that must be gone once it succeeded, and its files outside any datastore's clonefleet/ folder (RAM on the tmpfs, an engine folder). */
  removal: { ids: Set<string>; files: string[] };
  /** The user's own files (in a datastore's directory, outside clonefleet/) that must stay whatever the job does. */
  userFiles: string[];
  nextPattern: number;
  staged: Staged;
}

/** Writes a fresh mark into a VM's disk (from inside QEMU when it runs, with qemu-io on the file when stopped) and records it. */
export async function writeMark(w: TrialWorld, vm: VmWire): Promise<Mark> {
  const n = (w.marks.get(vm.id) ?? []).length;
  const mark = { offset: MARK_BASE + n * MARK_SLOT, pattern: w.nextPattern++ };
  await writeMarkAt(w, vm, mark);
  return mark;
}

/** Writes `len` bytes of a fresh pattern at `offset` (a large write makes a consolidation take time); records marks at both ends. */
export async function writeSpan(w: TrialWorld, vm: VmWire, offsetMb: number, lenMb: number): Promise<void> {
  const pattern = w.nextPattern++;
  const start = offsetMb * 1024 * 1024;
  const len = lenMb * 1024 * 1024;
  if (vm.power_state === "running") await guestFill(vm.state_dir!, start, `${lenMb}M`, pattern);
  else await run("qemu-io", ["-f", "qcow2", "-c", `write -P ${pattern} ${start} ${len}`, vm.disk_path]);
  const marks = w.marks.get(vm.id) ?? [];
  marks.push({ offset: start, pattern }, { offset: start + len - MARK_SLOT, pattern });
  w.marks.set(vm.id, marks);
}

async function writeMarkAt(w: TrialWorld, vm: VmWire, mark: Mark): Promise<void> {
  if (vm.power_state === "running") await guestWrite(vm.state_dir!, mark.offset, mark.pattern);
  else await run("qemu-io", ["-f", "qcow2", "-c", `write -P ${mark.pattern} ${mark.offset} 64k`, vm.disk_path]);
  w.marks.set(vm.id, [...(w.marks.get(vm.id) ?? []), mark]);
}

/** Creates a VM from the trial's template (a full or a linked clone, picked at random), starts it when asked, and writes a mark into it. */
export async function makeVm(w: TrialWorld, name: string, running: boolean): Promise<VmWire> {
  const mode = w.rng.pick(["full", "linked"] as const);
  const job = await w.a.client.vms.create({ name, template_id: w.templateId, clone_mode: mode });
  let vm = (await w.a.client.waitJob(job.id, { timeoutMs: 120_000 })).result as VmWire;
  if (running) vm = await w.a.client.vms.start(vm.id);
  await writeMark(w, vm);
  return vm;
}
