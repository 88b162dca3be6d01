import { isQemuOfSocket } from "./liveness";

const SOCKET = "/state/vm a/qmp.sock";
const cmdline = (socket: string) => ["qemu-system-x86_64", "-qmp", `unix:path=${socket},server=on,wait=off`, ""].join("\0");
// pid (comm) state ppid pgrp session tty tpgid flags …
const stat = (state: string, flags: number) => `4242 (qemu-system-x86) ${state} 1 4242 4242 0 -1 ${flags} 0 0 0`;

describe("isQemuOfSocket", () => {
  test("a running QEMU whose command line names the socket is live", () => {
    expect(isQemuOfSocket(stat("S", 0x400040), cmdline(SOCKET), SOCKET)).toBe(true);
  });

  test("a process naming another socket, a zombie, or no process is not", () => {
    expect(isQemuOfSocket(stat("S", 0x400040), cmdline("/state/other/qmp.sock"), SOCKET)).toBe(false);
    expect(isQemuOfSocket(stat("Z", 0x400044), "", SOCKET)).toBe(false);
    expect(isQemuOfSocket(null, null, SOCKET)).toBe(false);
  });

  test("a process that is exiting (memory gone, files still open) still counts as live", () => {
    expect(isQemuOfSocket(stat("D", 0x400044), "", SOCKET)).toBe(true);
    expect(isQemuOfSocket(stat("R", 0x400044), null, SOCKET)).toBe(true);
  });

  test("a process with an empty command line that is not exiting (a kernel thread on a reused pid) is not", () => {
    expect(isQemuOfSocket(stat("S", 0x208040), "", SOCKET)).toBe(false);
  });

  test("a command name with spaces and parentheses does not shift the fields", () => {
    expect(isQemuOfSocket(`7 (a ) b (c)) D 1 7 7 0 -1 4 0`, "", SOCKET)).toBe(true);
  });
});
