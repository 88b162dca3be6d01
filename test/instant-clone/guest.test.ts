import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { InstantCloneResultWire, ParentWire, VmWire } from "../../engine/client";
import { AGENT_PORT_NAME, GuestAgentClient, portSocketPath } from "../../engine/hypervisor";
import { startTestEngine, type TestEngine } from "../support/engine";
import { ensureTestGuest, type TestGuest } from "../support/guest-image";
import { createVm, killAllVms } from "../support/vms";

const built = ensureTestGuest();
if (!built.ok) console.warn(`Linux test guest tests skipped (the guest is not built): ${built.reason}`);
const describeGuest = built.ok ? describe : describe.skip;

// The Linux test guest boots under TCG in 2–4 s here; leave room for a loaded machine.
jest.setTimeout(240_000);

/** Connects to a VM's agent and waits until it answers a ping; resolves with the connected client. */
async function agentOf(vm: VmWire, timeoutMs: number): Promise<GuestAgentClient> {
  const socket = portSocketPath(vm.state_dir!, { name: AGENT_PORT_NAME });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let agent: GuestAgentClient | null = null;
    try {
      agent = await GuestAgentClient.connect(socket, { timeoutMs: 2000 });
      await agent.ping({ timeoutMs: 1000 });
      return agent;
    } catch (err) {
      await agent?.close().catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describeGuest("instant clones of the booted Linux test guest through the engine", () => {
  let t: TestEngine;
  let guest: TestGuest;
  let templateId: string;

  beforeAll(async () => {
    guest = (built as { ok: true; guest: TestGuest }).guest;
    t = await startTestEngine({ engine: { accel: "tcg" } });
    const dsPath = path.join(t.dir, "ds");
    await fs.mkdir(dsPath);
    const ds = await t.client.datastores.create({ name: "guest-ds", path: dsPath });
    const job = await t.client.templates.import({
      name: "linux-guest",
      datastore_id: ds.id,
      source_path: guest.rootDisk,
      memory_mb: 256,
      vcpus: 1,
      kernel: guest.kernel,
      initrd: guest.initrd,
      cmdline: guest.cmdline,
    });
    templateId = ((await t.client.waitJob(job.id, { timeoutMs: 60_000 })).result as { id: string }).id;
  });

  afterAll(async () => {
    await killAllVms(path.join(t.stateDir, "vms"));
    await t.stop();
    await fs.rm(t.engine.runner.settings.parentTmpfsDir!, { recursive: true, force: true });
  });

  test("a child answers on its agent at once, without booting, with its own identity and the parent's RAM", async () => {
    const src = await createVm(t.client, "linux-src", templateId, "linked");
    const coldT0 = Date.now();
    await t.client.vms.start(src.id);
    const srcAgent = await agentOf((await t.client.vms.get(src.id))!, 120_000);
    const coldMs = Date.now() - coldT0;
    expect(await srcAgent.request("identity")).toBe(src.id);
    await srcAgent.request("set-ram-marker", "set-before-capture");
    await srcAgent.close();

    const pj = await t.client.parents.create({ source_vm_id: src.id, name: "linux" });
    const parent = (await t.client.waitJob(pj.id, { timeoutMs: 60_000 })).result as ParentWire;

    const t0 = Date.now();
    const cj = await t.client.parents.clone(parent.id, { count: 1, name_prefix: "linux-kid" });
    const r = (await t.client.waitJob(cj.id, { timeoutMs: 60_000 })).result as InstantCloneResultWire;
    const runningMs = Date.now() - t0;
    const kid = r.children[0];
    const agent = await agentOf(kid, 10_000);
    const answeredMs = Date.now() - t0;
    try {
      // fw_cfg is read live: the child reports its own VM id, not its parent's.
      expect(await agent.request("identity")).toBe(kid.id);
      // Its RAM is the parent's at the capture: what the running guest kept in memory is there.
      expect(await agent.request("read-ram-marker")).toBe("set-before-capture");
      // The disk marker was written by the source's one boot; the child never booted.
      expect(await agent.request("read-marker")).toBe(`boot=1 identity=${src.id}`);
      const serial = await fs.readFile(path.join(kid.state_dir!, "serial.log"), "utf8");
      expect(serial).not.toContain(guest.readyLine);
    } finally {
      await agent.close();
    }
    console.log(
      `Linux guest (TCG) through the engine: cold boot to agent answering ${coldMs} ms; instant clone request to running ${runningMs} ms ` +
        `(child ready ${kid.ready_ms} ms into the job), to agent answering ${answeredMs} ms: ${(coldMs / answeredMs).toFixed(1)}x sooner`,
    );
    await t.client.vms.delete(kid.id);
    await t.client.parents.delete(parent.id);
    await t.client.vms.delete(src.id);
  });

  test("a pre-started child resumes at the capture: its own identity, the parent's uptime, the RTC on the host's time", async () => {
    const src = await createVm(t.client, "linux-warm-src", templateId, "linked");
    await t.client.vms.start(src.id);
    const srcAgent = await agentOf((await t.client.vms.get(src.id))!, 120_000);
    await srcAgent.request("set-ram-marker", "before-warm-capture");
    const [srcUptime] = (await srcAgent.request("clock")).split(" ").map(Number);
    const srcReadAt = Date.now();
    await srcAgent.close();

    const pj = await t.client.parents.create({ source_vm_id: src.id, name: "linux-warm", warm_count: 1 });
    const parent = (await t.client.waitJob(pj.id, { timeoutMs: 60_000 })).result as ParentWire;
    for (const deadline = Date.now() + 120_000; (await t.client.parents.get(parent.id))!.warm_ready < 1; ) {
      if (Date.now() > deadline) throw new Error("no pre-started child after 120 s");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Pre-started children wait long before a request comes: the guest must not age meanwhile.
    const waitedMs = 3000;
    await new Promise((r) => setTimeout(r, waitedMs));

    const cj = await t.client.parents.clone(parent.id, { count: 1, name_prefix: "linux-warm-kid" });
    const kid = ((await t.client.waitJob(cj.id, { timeoutMs: 60_000 })).result as InstantCloneResultWire).children[0];
    const agent = await agentOf(kid, 10_000);
    try {
      const [uptime, , rtc] = (await agent.request("clock")).split(" ");
      const kidReadAt = Date.now();
      expect(await agent.request("identity")).toBe(kid.id);
      expect(await agent.request("read-ram-marker")).toBe("before-warm-capture");
      // No boot (uptime goes on from the parent's), and no ageing while it waited paused: the
      // guest ran at most the host time since the source's read less the wait.
      expect(Number(uptime)).toBeGreaterThanOrEqual(srcUptime);
      expect(Number(uptime)).toBeLessThan(srcUptime + (kidReadAt - srcReadAt - waitedMs) / 1000);
      // The RTC follows the host's clock, paused or not.
      expect(Math.abs(Number(rtc) - kidReadAt / 1000)).toBeLessThanOrEqual(2);
      const serial = await fs.readFile(path.join(kid.state_dir!, "serial.log"), "utf8");
      expect(serial).not.toContain(guest.readyLine);
    } finally {
      await agent.close();
    }
    await t.client.parents.update(parent.id, { warm_count: 0 });
    await t.client.vms.delete(kid.id);
    await t.client.parents.delete(parent.id);
    await t.client.vms.delete(src.id);
  });
});
