import { execFile } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { promisify } from "node:util";
import {
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpInterruptedError,
  QmpStateError,
  QmpTimeoutError,
  portSocketPath,
} from "../../engine/hypervisor";
import { VmTracker, createQcow2, firmwareSpec, imageHasPattern, qemuIo, tempDir } from "./helpers";

const run = promisify(execFile);
const vms = new VmTracker();
afterEach(() => vms.cleanup());

async function startVm(over = {}) {
  const dir = vms.dir(await tempDir());
  return vms.start(firmwareSpec(dir, over));
}

describe("commands", () => {
  test("greeting, typed commands, the untyped escape hatch and HMP", async () => {
    const vm = await startVm({ name: "qmp-cmds" });
    expect(vm.qmp.greeting.QMP.version.qemu.major).toBeGreaterThanOrEqual(7);
    expect(vm.qmp.runState).toBe("running");
    const status = await vm.qmp.execute("query-status");
    expect(status).toMatchObject({ status: "running", running: true });
    expect(await vm.qmp.executeUntyped("query-name")).toEqual({ name: "qmp-cmds" });
    expect(await vm.qmp.hmp("info status")).toMatch(/VM status: running/);
  });

  test("a refused command is a QmpCommandError with QMP's error class and the command", async () => {
    const vm = await startVm();
    const unknown = (await vm.qmp.executeUntyped("no-such-command").catch((e: unknown) => e)) as QmpCommandError;
    expect(unknown).toBeInstanceOf(QmpCommandError);
    expect(unknown.qmpClass).toBe("CommandNotFound");
    expect(unknown.command).toBe("no-such-command");
    const bad = (await vm.qmp.execute("job-complete", { id: "nope" }).catch((e: unknown) => e)) as QmpCommandError;
    expect(bad).toMatchObject({ name: "QmpCommandError", command: "job-complete", qmpClass: "GenericError", args: { id: "nope" } });
    // The connection stays usable after an error.
    expect((await vm.qmp.execute("query-status")).running).toBe(true);
  });

  test("concurrent commands each get their own reply", async () => {
    const vm = await startVm({ name: "qmp-many" });
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? vm.qmp.execute("query-status") : vm.qmp.executeUntyped("query-name"))),
    );
    replies.forEach((r, i) => expect(r).toEqual(i % 2 ? expect.objectContaining({ status: "running" }) : { name: "qmp-many" }));
  });
});

describe("events", () => {
  test("listeners opened before the command receive its events, each independently, filtered", async () => {
    const vm = await startVm();
    const all = vm.qmp.listen("*");
    const stops = vm.qmp.listen(["STOP"]);
    const resumes = vm.qmp.listen(["STOP", "RESUME"], (e) => e.event === "RESUME");
    try {
      await vm.pause();
      await vm.resume();
      expect((await stops.next({ timeoutMs: 2000 })).event).toBe("STOP");
      expect((await resumes.next({ timeoutMs: 2000 })).event).toBe("RESUME");
      const names = [(await all.next({ timeoutMs: 2000 })).event, (await all.next({ timeoutMs: 2000 })).event];
      expect(names).toEqual(["STOP", "RESUME"]);
      await expect(stops.next({ timeoutMs: 50 })).rejects.toBeInstanceOf(QmpTimeoutError);
    } finally {
      all.close();
      stops.close();
      resumes.close();
    }
  });

  test("a closed listener takes no more events", async () => {
    const vm = await startVm();
    const l = vm.qmp.listen(["STOP"]);
    l.close();
    await vm.pause();
    expect(l.size).toBe(0);
  });
});

describe("deadlines and the end of the connection", () => {
  test("a command QEMU does not answer times out; a late reply is dropped and the client goes on", async () => {
    const vm = await startVm();
    process.kill(vm.pid, "SIGSTOP");
    try {
      const t0 = Date.now();
      await expect(vm.qmp.execute("query-status", undefined, { timeoutMs: 200 })).rejects.toBeInstanceOf(QmpTimeoutError);
      expect(Date.now() - t0).toBeLessThan(2000);
    } finally {
      process.kill(vm.pid, "SIGCONT");
    }
    expect((await vm.qmp.execute("query-status", undefined, { timeoutMs: 5000 })).running).toBe(true);
  });

  test("when QEMU dies, pending commands and event waits fail with QmpInterruptedError", async () => {
    const vm = await startVm();
    process.kill(vm.pid, "SIGSTOP");
    const listener = vm.qmp.listen(["STOP"]);
    const pendingCommand = vm.qmp.execute("query-status", undefined, { timeoutMs: 20000 });
    const pendingEvent = listener.next({ timeoutMs: 20000 });
    process.kill(vm.pid, "SIGKILL");
    await expect(pendingCommand).rejects.toBeInstanceOf(QmpInterruptedError);
    await expect(pendingEvent).rejects.toBeInstanceOf(QmpInterruptedError);
    listener.close();
    await vm.qmp.closed;
    expect(vm.qmp.isConnected).toBe(false);
    await expect(vm.qmp.execute("query-status")).rejects.toBeInstanceOf(QmpStateError);
    expect(() => vm.qmp.listen(["STOP"])).toThrow(QmpStateError);
  });

  test("disconnect fails what is pending and leaves QEMU running", async () => {
    const vm = await startVm();
    const listener = vm.qmp.listen(["SHUTDOWN"]);
    const waiting = listener.next({ timeoutMs: 20000 });
    await vm.qmp.disconnect();
    await expect(waiting).rejects.toBeInstanceOf(QmpInterruptedError);
    await expect(vm.qmp.execute("query-status")).rejects.toBeInstanceOf(QmpStateError);
    expect(await vm.isAlive()).toBe(true);
    const again = await QmpClient.connect(vm.files.qmpSocket);
    expect((await again.execute("query-status")).running).toBe(true);
    await again.disconnect();
  });

  test("connect fails clearly: no socket, and a socket that never greets", async () => {
    const dir = vms.dir(await tempDir());
    const missing = (await QmpClient.connect(path.join(dir, "none.sock")).catch((e: unknown) => e)) as QmpConnectError;
    expect(missing).toBeInstanceOf(QmpConnectError);
    expect((missing.cause as NodeJS.ErrnoException).code).toBe("ENOENT");

    // A guest port's socket is a real QEMU socket that speaks no QMP.
    const vm = await startVm({ serialPorts: [{ name: "org.clonefleet.agent.0" }] });
    const sock = portSocketPath(vm.stateDir, { name: "org.clonefleet.agent.0" });
    const silent = (await QmpClient.connect(sock, { timeoutMs: 300 }).catch((e: unknown) => e)) as QmpConnectError;
    expect(silent).toBeInstanceOf(QmpConnectError);
    expect(silent.cause).toBeInstanceOf(QmpTimeoutError);
  });

  // QEMU accepts a waiting client before it puts the monitor back into negotiation mode, so
  // an event queued for the previous client can arrive ahead of the greeting (seen in CI).
  // A peer on a loopback socket replays that byte order exactly.
  test("an event ahead of the greeting is dropped; any other message there is a protocol error", async () => {
    const dir = vms.dir(await tempDir());
    const greeting = { QMP: { version: { qemu: { major: 8, minor: 2, micro: 0 }, package: "" }, capabilities: [] } };
    const stale = { event: "JOB_STATUS_CHANGE", data: { status: "ready", id: "old" }, timestamp: { seconds: 1, microseconds: 0 } };
    const peer = async (first: object) => {
      const sock = path.join(dir, `peer-${Math.random().toString(16).slice(2)}.sock`);
      const server = net.createServer((c) => {
        c.write(`${JSON.stringify(first)}\r\n${JSON.stringify(greeting)}\r\n`);
        let buf = "";
        c.on("data", (d) => {
          buf += d.toString();
          for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
            const cmd = JSON.parse(buf.slice(0, nl)) as { id: string; execute: string };
            buf = buf.slice(nl + 1);
            const ret = cmd.execute === "query-status" ? { status: "running", running: true, singlestep: false } : {};
            c.write(`${JSON.stringify({ return: ret, id: cmd.id })}\r\n`);
          }
        });
        c.on("error", () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(sock, resolve));
      return { sock, server };
    };

    const afterEvent = await peer(stale);
    try {
      const client = await QmpClient.connect(afterEvent.sock, { timeoutMs: 2000 });
      expect((await client.execute("query-status")).running).toBe(true);
      await client.disconnect();
    } finally {
      afterEvent.server.close();
    }

    const afterReply = await peer({ return: {}, id: "stray" });
    try {
      const err = (await QmpClient.connect(afterReply.sock, { timeoutMs: 2000 }).catch((e: unknown) => e)) as QmpConnectError;
      expect(err).toBeInstanceOf(QmpConnectError);
      expect(err.message).toMatch(/expected a greeting first/);
    } finally {
      afterReply.server.close();
    }
  });
});

describe("disks and block jobs through QMP", () => {
  test("human-monitor-command qemu-io writes into the running VM's virtio disk", async () => {
    const dir = vms.dir(await tempDir());
    const disk = await createQcow2(path.join(dir, "disk.qcow2"), { sizeMb: 16 });
    const vm = await vms.start(firmwareSpec(dir, { disks: [{ path: disk }] }));
    // QEMU 7.2 prints qemu-io's own output on its stdout (qemu.log), not into the HMP reply:
    // the reply is empty on success and holds "Error: …" when the command cannot run.
    expect(await vm.qmp.hmp('qemu-io disk0 "write -P 0x5a 1M 64k"')).toBe("");
    expect(await vm.qmp.hmp('qemu-io nonode "write -P 0x5a 1M 64k"')).toMatch(/^Error: /);
    // Writes from other processes stay locked out while the VM runs.
    await expect(qemuIo(disk, "write -P 0x33 0 4k")).rejects.toThrow(/lock/i);
    // Once stopped, QEMU has flushed the image, so a shared read from outside sees the data.
    await vm.pause();
    const out = await run("qemu-io", ["-U", "-r", "-f", "qcow2", "-c", "read -P 0x5a 1M 64k", disk]);
    expect(out.stdout).toMatch(/read 65536\/65536 bytes/);
    expect(out.stdout).not.toMatch(/verification failed/);
    await vm.resume();
    const nodes = await vm.qmp.execute("query-named-block-nodes", { flat: true });
    expect(nodes.map((n) => n["node-name"])).toEqual(expect.arrayContaining(["disk0", "disk0-file"]));
    await vm.shutdown({ powerdownTimeoutMs: 0 });
    expect(await imageHasPattern(disk, 0x5a, 1024 * 1024, 65536)).toBe(true);
  });

  test("named backing nodes let an active block-commit fold the overlay into its base", async () => {
    const dir = vms.dir(await tempDir());
    const base = await createQcow2(path.join(dir, "base.qcow2"), { sizeMb: 16 });
    await qemuIo(base, "write -P 0x11 0 64k");
    const top = await createQcow2(path.join(dir, "top.qcow2"), { backing: base });
    const vm = await vms.start(firmwareSpec(dir, { disks: [{ path: top, backingChain: [{ path: base }] }] }));
    await vm.qmp.hmp('qemu-io disk0 "write -P 0x22 64k 64k"');
    // The base is shared read-only while the VM runs: no other process may write it.
    await expect(qemuIo(base, "write -P 0x33 0 4k")).rejects.toThrow(/lock/i);
    const ready = vm.qmp.listen(["BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED"], (e) => e.data.device === "commit0");
    try {
      await vm.qmp.execute("block-commit", { "job-id": "commit0", device: "disk0", "base-node": "disk0-b1" });
      expect((await ready.next({ timeoutMs: 10000 })).event).toBe("BLOCK_JOB_READY");
      await vm.qmp.execute("job-complete", { id: "commit0" });
      expect((await ready.next({ timeoutMs: 10000 })).event).toBe("BLOCK_JOB_COMPLETED");
    } finally {
      ready.close();
    }
    // After the pivot the VM writes straight into the base.
    const info = await vm.qmp.execute("query-block");
    expect(info[0].inserted?.file).toBe(base);
    await vm.shutdown({ powerdownTimeoutMs: 0 });
    expect(await imageHasPattern(base, 0x11, 0, 65536)).toBe(true);
    expect(await imageHasPattern(base, 0x22, 65536, 65536)).toBe(true);
  });
});
