import * as path from "node:path";
import {
  AGENT_PORT_NAME,
  GuestAgentClient,
  GuestAgentError,
  GuestNotifyChannel,
  NOTIFY_PORT_NAME,
  loadState,
  portSocketPath,
  saveState,
  type QemuProcess,
  type VmSpec,
} from "../../engine/hypervisor";
import { ensureTestGuest, type TestGuest } from "../support/guest-image";
import { VmTracker, createQcow2, tempDir, waitForText } from "./helpers";

const built = ensureTestGuest();
if (!built.ok) {
  console.warn(`Linux test guest tests skipped (the guest is not built): ${built.reason}`);
}
const describeGuest = built.ok ? describe : describe.skip;

/** TCG boot of the cloud kernel takes 2–4 s here; leave room for a loaded machine. */
const BOOT_TIMEOUT_MS = 60000;
jest.setTimeout(180000);

const vms = new VmTracker();
afterEach(() => vms.cleanup());

/** A Linux guest VM under TCG (this machine's KVM cannot boot Linux), on its own overlay of the guest's root disk. */
async function guestSpec(guest: TestGuest, opts: { identity?: string; cmdline?: string; backing?: string; memoryFile?: VmSpec["memoryFile"] } = {}): Promise<VmSpec> {
  const stateDir = vms.dir(await tempDir("cf-guest-"));
  const disk = await createQcow2(path.join(stateDir, "disk.qcow2"), { backing: opts.backing ?? guest.rootDisk });
  return {
    name: path.basename(stateDir),
    stateDir,
    accel: "tcg",
    memoryMb: 256,
    vcpus: 1,
    kernel: { kernel: guest.kernel, initrd: guest.initrd, cmdline: `${guest.cmdline}${opts.cmdline ? ` ${opts.cmdline}` : ""}` },
    disks: [{ path: disk }],
    serialPorts: [{ name: AGENT_PORT_NAME }, { name: NOTIFY_PORT_NAME }],
    identity: opts.identity ?? "",
    memoryFile: opts.memoryFile,
  };
}

async function boot(spec: VmSpec, guest: TestGuest): Promise<{ vm: QemuProcess; bootMs: number; readyLine: string }> {
  const t0 = Date.now();
  const vm = await vms.start(spec);
  const log = await waitForText(vm.files.serialLog, guest.readyLine, BOOT_TIMEOUT_MS);
  const bootMs = Date.now() - t0;
  const readyLine = log.split("\n").find((l) => l.startsWith(guest.readyLine)) ?? "";
  return { vm, bootMs, readyLine };
}

const agentSocket = (vm: QemuProcess) => portSocketPath(vm.stateDir, { name: AGENT_PORT_NAME });
const notifySocket = (vm: QemuProcess) => portSocketPath(vm.stateDir, { name: NOTIFY_PORT_NAME });

describeGuest("the Linux test guest under TCG", () => {
  const guest = (built as { ok: true; guest: TestGuest }).guest;

  test("boots to its ready line, writes its disk marker, and its agent answers", async () => {
    const { vm, bootMs, readyLine } = await boot(await guestSpec(guest, { identity: "guest-a" }), guest);
    expect(readyLine).toMatch(/identity=guest-a disk=yes ports=agent,notify/);
    const agent = await GuestAgentClient.connect(agentSocket(vm));
    try {
      await agent.ping();
      expect(await agent.request("identity")).toBe("guest-a");
      expect(await agent.request("read-marker")).toBe("boot=1 identity=guest-a");
      await agent.request("set-ram-marker", "r-123");
      expect(await agent.request("read-ram-marker")).toBe("r-123");
      await expect(agent.request("no-such-command")).rejects.toBeInstanceOf(GuestAgentError);
      expect(Number(await agent.request("uptime"))).toBeGreaterThan(0);
    } finally {
      await agent.close();
    }
    // A later client is served too (the guest polls for a host connection).
    const again = await GuestAgentClient.connect(agentSocket(vm));
    await again.ping();
    await again.close();
    console.log(`guest boot to ready line under TCG: ${bootMs} ms`);
  });

  test("a notice is logged, worked on and acknowledged; the completion is logged after", async () => {
    const { vm } = await boot(await guestSpec(guest, { cmdline: "cf.notify_work_ms=300" }), guest);
    const channel = await GuestNotifyChannel.connect(notifySocket(vm));
    try {
      const outcome = await channel.notify({ kind: "migration", deadlineMs: 10000, detail: { id: "not-the-notice-id", target_host: "b" } });
      expect(outcome.outcome).toBe("acked");
      expect(outcome.waitedMs).toBeGreaterThanOrEqual(300);
      const completion = await channel.complete(outcome.id, "succeeded");
      const log = await waitForText(vm.files.serialLog, `CF-NOTIFY complete id=${completion} ref=${outcome.id} outcome=succeeded`, 10000);
      const at = (needle: string) => log.indexOf(needle);
      expect(at(`CF-NOTIFY notice id=${outcome.id} kind=migration phase=prepare`)).toBeGreaterThanOrEqual(0);
      expect(at(`CF-NOTIFY ack id=${outcome.id} deadline_ms=10000`)).toBeGreaterThan(at(`CF-NOTIFY notice id=${outcome.id}`));
      expect(at(`CF-NOTIFY complete id=${completion}`)).toBeGreaterThan(at(`CF-NOTIFY ack id=${outcome.id}`));
    } finally {
      await channel.close();
    }
  });

  test("a silent guest does not acknowledge: the notice ends at its deadline", async () => {
    const { vm } = await boot(await guestSpec(guest, { cmdline: "cf.notify_silent=1" }), guest);
    const channel = await GuestNotifyChannel.connect(notifySocket(vm));
    try {
      const outcome = await channel.notify({ kind: "migration", deadlineMs: 1000 });
      expect(outcome.outcome).toBe("timeout");
      expect(outcome.waitedMs).toBeGreaterThanOrEqual(1000);
      await waitForText(vm.files.serialLog, `CF-NOTIFY silent id=${outcome.id}`, 10000);
    } finally {
      await channel.close();
    }
  });

  test("graceful stop: the guest powers off on the ACPI power button", async () => {
    const { vm } = await boot(await guestSpec(guest), guest);
    const result = await vm.shutdown({ powerdownTimeoutMs: 30000 });
    expect(result.method).toBe("powerdown");
    expect(vm.exit).toEqual({ code: 0, signal: null });
    await waitForText(vm.files.serialLog, "CF-GUEST powering off", 1000);
  });

  test("an instant clone of the booted guest answers at once, with its own identity", async () => {
    const work = vms.dir(await tempDir("cf-tmpl-"));
    const ramFile = path.join(work, "ram");
    const parentSpec = await guestSpec(guest, { identity: "parent", memoryFile: { path: ramFile, share: true } });
    const { vm: parent } = await boot(parentSpec, guest);
    const a = await GuestAgentClient.connect(agentSocket(parent));
    await a.request("set-ram-marker", "from-parent");
    await a.close();
    await parent.pause();
    const state = await saveState(parent.qmp, path.join(work, "device.state"), { ignoreShared: true });
    await parent.shutdown({ powerdownTimeoutMs: 0 });

    const t0 = Date.now();
    const childSpec = await guestSpec(guest, { identity: "child-1", backing: parentSpec.disks![0].path, memoryFile: { path: ramFile, share: false } });
    const child = await vms.start({ ...childSpec, incoming: "defer" });
    const loaded = await loadState(child.qmp, state.path, { ignoreShared: true });
    expect(loaded.status).toBe("paused");
    await child.resume();
    const running = Date.now() - t0;
    const agent = await GuestAgentClient.connect(agentSocket(child));
    try {
      await agent.ping({ timeoutMs: 5000 });
      const answered = Date.now() - t0;
      // fw_cfg is read live, so the clone reports the identity its own process was given.
      expect(await agent.request("identity")).toBe("child-1");
      expect(await agent.request("read-ram-marker")).toBe("from-parent");
      expect(await agent.request("read-marker")).toBe("boot=1 identity=parent");
      console.log(`instant clone of the Linux guest (TCG): running after ${running} ms, agent answered after ${answered} ms; state ${state.sizeBytes} bytes saved in ${state.durationMs} ms`);
    } finally {
      await agent.close();
    }
  });
});
