import * as path from "node:path";
import { GuestAgentClient, GuestChannelError, GuestNotifyChannel, GuestTimeoutError, NOTIFY_PORT_NAME, AGENT_PORT_NAME, portSocketPath } from "../../engine/hypervisor";
import { VmTracker, firmwareSpec, tempDir } from "./helpers";

// Guest channels of a VM without a guest OS: QEMU's sockets are real, nobody answers.
const vms = new VmTracker();
afterEach(() => vms.cleanup());

async function startWithPorts() {
  return vms.start(firmwareSpec(vms.dir(await tempDir()), { serialPorts: [{ name: NOTIFY_PORT_NAME }, { name: AGENT_PORT_NAME }] }));
}

test("a notice to a guest that does not listen ends at its deadline", async () => {
  const vm = await startWithPorts();
  const channel = await GuestNotifyChannel.connect(portSocketPath(vm.stateDir, { name: NOTIFY_PORT_NAME }));
  try {
    const outcome = await channel.notify({ kind: "migration", deadlineMs: 200 });
    expect(outcome).toMatchObject({ outcome: "timeout" });
    expect(outcome.waitedMs).toBeGreaterThanOrEqual(200);
  } finally {
    await channel.close();
  }
});

test("when the VM dies the pending notice fails with GuestChannelError", async () => {
  const vm = await startWithPorts();
  const channel = await GuestNotifyChannel.connect(portSocketPath(vm.stateDir, { name: NOTIFY_PORT_NAME }));
  const pending = channel.notify({ kind: "migration", deadlineMs: 20000 }).catch((e: unknown) => e);
  await vm.kill();
  expect(await pending).toBeInstanceOf(GuestChannelError);
  await expect(channel.complete("n-x", "failed")).rejects.toBeInstanceOf(GuestChannelError);
});

test("an agent request without an answer times out", async () => {
  const vm = await startWithPorts();
  const agent = await GuestAgentClient.connect(portSocketPath(vm.stateDir, { name: AGENT_PORT_NAME }));
  try {
    await expect(agent.ping({ timeoutMs: 150 })).rejects.toBeInstanceOf(GuestTimeoutError);
  } finally {
    await agent.close();
  }
});

test("connecting to a missing socket is a GuestChannelError", async () => {
  const dir = vms.dir(await tempDir());
  await expect(GuestNotifyChannel.connect(path.join(dir, "none.sock"))).rejects.toBeInstanceOf(GuestChannelError);
  await expect(GuestAgentClient.connect(path.join(dir, "none.sock"))).rejects.toBeInstanceOf(GuestChannelError);
});

test("bad notices are refused before anything is sent", async () => {
  const vm = await startWithPorts();
  const channel = await GuestNotifyChannel.connect(portSocketPath(vm.stateDir, { name: NOTIFY_PORT_NAME }));
  try {
    await expect(channel.notify({ kind: "Bad Kind", deadlineMs: 100 })).rejects.toBeInstanceOf(RangeError);
    await expect(channel.notify({ kind: "migration", deadlineMs: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(channel.notify({ kind: "migration", deadlineMs: 7200 * 1000 })).rejects.toBeInstanceOf(RangeError);
  } finally {
    await channel.close();
  }
});
