/**
 * The quickstart's instant-clone part (S3): a parent made from a booted guest, 16 instant clones
 * started from it, their start times and memory shown next to a cold boot of the same guest,
 * then 4 more from children the host pre-started.
 * The guest is the Linux test guest when scripts/build-guest.sh has built it (.cache/guest),
 * else a firmware-only VM of the quickstart's template.
 */
import { existsSync, promises as fs } from "node:fs";
import * as path from "node:path";
import type { ClonefleetClient, InstantCloneResultWire, ParentWire, VmWire } from "../../engine/client";
import { AGENT_PORT_NAME, GuestAgentClient, portSocketPath } from "../../engine/hypervisor";
import { PROJECT_ROOT } from "../../engine/version";

const MiB = 1024 * 1024;

interface BuiltGuest {
  kernel: string;
  initrd: string;
  rootDisk: string;
  cmdline: string;
}

/** The Linux test guest if it is built already (the quickstart never builds it: that needs apt). */
async function builtGuest(): Promise<BuiltGuest | null> {
  const dir = process.env.CLONEFLEET_GUEST_DIR ?? path.join(PROJECT_ROOT, ".cache", "guest");
  try {
    const m = JSON.parse(await fs.readFile(path.join(dir, "manifest.json"), "utf8")) as {
      cmdline: string;
      files: { vmlinuz: { path: string }; initrd: { path: string }; root_disk: { path: string } };
    };
    const g = { kernel: path.join(dir, m.files.vmlinuz.path), initrd: path.join(dir, m.files.initrd.path), rootDisk: path.join(dir, m.files.root_disk.path), cmdline: m.cmdline };
    return [g.kernel, g.initrd, g.rootDisk].every((f) => existsSync(f)) ? g : null;
  } catch {
    return null;
  }
}

async function pssOf(pid: number): Promise<number> {
  const text = await fs.readFile(`/proc/${pid}/smaps_rollup`, "utf8");
  return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? NaN) * 1024;
}

async function agentAnswers(stateDir: string, timeoutMs: number): Promise<void> {
  const socket = portSocketPath(stateDir, { name: AGENT_PORT_NAME });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let agent: GuestAgentClient | null = null;
    try {
      agent = await GuestAgentClient.connect(socket, { timeoutMs: 2000 });
      await agent.ping({ timeoutMs: 1000 });
      await agent.close();
      return;
    } catch (err) {
      await agent?.close().catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * Boots a guest, captures it as a parent, starts 16 instant clones and prints their start times
 * and PSS next to the cold boot's; deletes the children and returns the parent (kept, idle: a
 * parent runs nothing).
 */
export async function instantCloneTour(api: ClonefleetClient, opts: { datastoreId: string; firmwareTemplateId: string; step: (text: string) => void }): Promise<ParentWire> {
  const guest = await builtGuest();
  let templateId = opts.firmwareTemplateId;
  if (guest) {
    const job = await api.templates.import({ name: "linux-guest", datastore_id: opts.datastoreId, source_path: guest.rootDisk, memory_mb: 256, vcpus: 1, kernel: guest.kernel, initrd: guest.initrd, cmdline: guest.cmdline });
    templateId = ((await api.waitJob(job.id)).result as { id: string }).id;
  }
  const what = guest ? "the Linux test guest (TCG)" : "a firmware-only VM (build the Linux test guest with scripts/build-guest.sh to see a booted OS)";
  opts.step(`instant clones (S3): booting ${what}, the cold way`);
  const vj = await api.vms.create({ name: "ic-source", template_id: templateId, clone_mode: "linked" });
  const source = (await api.waitJob(vj.id)).result as VmWire;
  const t0 = performance.now();
  const on = await api.vms.start(source.id, guest ? { accel: "tcg" } : {});
  if (guest) await agentAnswers(on.state_dir!, 180_000);
  const coldMs = performance.now() - t0;
  const coldPss = await pssOf(on.pid!);
  console.log(`cold boot: ${coldMs.toFixed(0)} ms to ${guest ? "its agent answering" : "running"}; PSS ${(coldPss / MiB).toFixed(1)} MiB`);

  opts.step("capturing it as an instant-clone parent (RAM file, device state saved with x-ignore-shared, frozen disk)");
  // On the datastore, so that everything the quickstart makes stays under ./.quickstart (a tmpfs
  // parent would keep its RAM in /dev/shm after the quickstart ends).
  const pj = await api.parents.create({ source_vm_id: source.id, name: "ic-parent", ram_location: "datastore" });
  const parent = (await api.waitJob(pj.id)).result as ParentWire;
  console.log(`parent ${parent.name} (${parent.id}): ${parent.memory_bytes / MiB} MiB guest, RAM file ${parent.ram_path} (${parent.ram_location}),`);
  console.log(`  device state ${(await fs.stat(parent.device_state_path)).size} bytes, frozen disk ${parent.disk_path}; the source VM is stopped now`);

  opts.step("16 instant clones at once: each maps the RAM file copy-on-write, loads the device state and continues (no boot)");
  const c0 = performance.now();
  const cj = await api.parents.clone(parent.id, { count: 16, name_prefix: "ic" });
  const result = (await api.waitJob(cj.id)).result as InstantCloneResultWire;
  const allMs = performance.now() - c0;
  if (guest) await agentAnswers(result.children[0].state_dir!, 30_000);
  const firstAnswerMs = performance.now() - c0;
  await new Promise((r) => setTimeout(r, 1000));
  const pss = await Promise.all(result.children.map((c) => pssOf(c.pid!)));
  for (const [i, c] of result.children.entries()) {
    console.log(`${c.name.padEnd(6)} ${c.id}  running ${String(c.ready_ms.toFixed(0)).padStart(5)} ms into the request (its own start ${c.start_ms.toFixed(0)} ms)  PSS ${(pss[i] / MiB).toFixed(1)} MiB`);
  }
  const meanPss = pss.reduce((s, x) => s + x, 0) / pss.length;
  console.log(`all 16 running ${allMs.toFixed(0)} ms after the request through the API${guest ? `; the first one's agent answered after ${firstAnswerMs.toFixed(0)} ms` : ""}`);
  console.log(`cold boot of one: ${coldMs.toFixed(0)} ms; mean PSS per clone ${(meanPss / MiB).toFixed(1)} MiB against ${(coldPss / MiB).toFixed(1)} MiB for the cold-booted VM (unwritten pages stay shared)`);

  // Sixteen running guests share two cores here; let the next figures be the pre-started clones' own.
  for (const c of result.children) await api.vms.delete(c.id);
  console.log("16 clones deleted");

  opts.step("4 children pre-started (warm_count 4): the host starts their QEMU ahead and loads the parent's state into it, paused; a request only resumes them");
  await api.parents.update(parent.id, { warm_count: 4 });
  for (let ready = 0; ready < 4; ) {
    await new Promise((r) => setTimeout(r, 100));
    ready = (await api.parents.get(parent.id))!.warm_ready;
  }
  const w0 = performance.now();
  const wj = await api.parents.clone(parent.id, { count: 4, name_prefix: "warm" });
  const warm = (await api.waitJob(wj.id)).result as InstantCloneResultWire;
  const warmMs = performance.now() - w0;
  if (guest) await agentAnswers(warm.children[0].state_dir!, 30_000);
  const warmAnswerMs = performance.now() - w0;
  for (const c of warm.children) console.log(`${c.name.padEnd(6)} ${c.id}  running ${String(c.ready_ms.toFixed(0)).padStart(5)} ms into the request (its own start ${c.start_ms.toFixed(0)} ms)`);
  console.log(`all 4 running ${warmMs.toFixed(0)} ms after the request${guest ? `; the first one's agent answered after ${warmAnswerMs.toFixed(0)} ms` : ""} (cold boot of one: ${coldMs.toFixed(0)} ms)`);
  // Back to none, so nothing keeps running for the parent after the quickstart.
  await api.parents.update(parent.id, { warm_count: 0 });

  opts.step("deleting the clones (the parent stays: it runs nothing and clones again at any time)");
  for (const c of warm.children) await api.vms.delete(c.id);
  console.log(`4 clones deleted; parent ${parent.id} kept`);
  return parent;
}
