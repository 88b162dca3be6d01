import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { type ClonefleetClient, type TemplateWire } from "../../engine/client";

const run = promisify(execFile);

/** A raw image of `sizeMb` whose first `dataMb` hold `pattern` (written with qemu-io), so copies take real time and space. */
export async function makeDataImage(file: string, sizeMb: number, dataMb: number, pattern = 0x5a): Promise<string> {
  await run("qemu-img", ["create", "-f", "raw", file, `${sizeMb}M`]);
  await run("qemu-io", ["-f", "raw", "-c", `write -P ${pattern} 0 ${dataMb}M`, file]);
  return file;
}

/** Imports `source` as a template and waits for it. */
export async function importTemplate(client: ClonefleetClient, name: string, datastoreId: string, source: string): Promise<TemplateWire> {
  const job = await client.templates.import({ name, datastore_id: datastoreId, source_path: source });
  return (await client.waitJob(job.id)).result as TemplateWire;
}

import { filesUnder } from "./files";

export { filesUnder };

export { apiError } from "./api-error";

/**
 * Checks through the API that every file under the datastores' engine folders has exactly one
 * owner (a template, a ready pool copy or a VM) and that every owner's file exists; returns the
 * owners by path, once no pool fill is running. Partial copies (`.part`) or unowned files fail it.
 */
export async function expectOneOwnerPerFile(client: ClonefleetClient, datastorePaths: string[]): Promise<Map<string, string>> {
  await waitPoolsSettled(client);
  const owners = new Map<string, string[]>();
  const own = (p: string, who: string) => owners.set(p, [...(owners.get(p) ?? []), who]);
  for (const t of await client.templates.list()) own(t.disk_path, `template ${t.id}`);
  for (const p of await client.pools.list()) for (const c of p.copies) own(c.path, `pool ${p.id}`);
  for (const v of await client.vms.list()) own(v.disk_path, `vm ${v.id}`);
  const files = (await Promise.all(datastorePaths.map((d) => filesUnder(path.join(d, "clonefleet"))))).flat().filter((f) => path.basename(f) !== "catalog.json");
  const problems: string[] = [];
  for (const f of files) {
    const who = owners.get(f) ?? [];
    if (who.length !== 1) problems.push(`${f}: ${who.length === 0 ? "no owner" : `owners ${who.join(", ")}`}`);
  }
  for (const [p, who] of owners) {
    if (!files.includes(p)) problems.push(`${p}: owned by ${who.join(", ")} but missing`);
    if (who.length > 1) problems.push(`${p}: owned by ${who.join(", ")}`);
  }
  expect(problems).toEqual([]);
  return new Map([...owners].map(([p, who]) => [p, who[0]]));
}

/** The device and inode of a file, to tell two paths of one file from two files. */
export async function inodeOf(file: string): Promise<string> {
  const st = await fs.stat(file);
  return `${st.dev}:${st.ino}`;
}

/** True when `file` is a qcow2 image without a backing file that `qemu-img check` passes. */
export async function isStandaloneSoundQcow2(file: string): Promise<boolean> {
  const { stdout } = await run("qemu-img", ["info", "--output=json", "-U", file]);
  const info = JSON.parse(stdout) as { format: string; "backing-filename"?: string };
  if (info.format !== "qcow2" || info["backing-filename"]) return false;
  const chk = await run("qemu-img", ["check", "--output=json", file]).then(
    (r) => JSON.parse(r.stdout) as { "check-errors"?: number; corruptions?: number; leaks?: number },
    () => null,
  );
  return chk !== null && !chk["check-errors"] && !chk.corruptions && !chk.leaks;
}

/** Waits until `probe` returns a truthy value (polling every 50 ms), or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | null | undefined | false>, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until no pool is filling: each holds its size or is backing off after a failure. */
export async function waitPoolsSettled(client: ClonefleetClient, timeoutMs = 30_000): Promise<void> {
  await eventually(
    async () => (await client.pools.list()).every((p) => p.filling === 0 && (p.ready >= p.size || p.state === "waiting")),
    timeoutMs,
    "pools to settle",
  );
}
