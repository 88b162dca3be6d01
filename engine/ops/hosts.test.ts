import * as path from "node:path";
import type { Host } from "../model";
import { judgeHostStatus, vmStateRootFor } from "./hosts";

const host = (over: Partial<Host> = {}): Host => ({
  id: "b",
  name: "b",
  apiUrl: "http://127.0.0.1:7421",
  pid: 1,
  stateDir: "/s",
  vmStateRoot: "/s/hosts/b/vms",
  tokenHash: null,
  lastHeartbeatAt: "2025-01-01T00:00:00.000Z",
  status: "up",
  downReason: null,
  startedAt: "2025-01-01T00:00:00.000Z",
  createdAt: "2025-01-01T00:00:00.000Z",
  ...over,
});

const t0 = Date.parse("2025-01-01T00:00:00.000Z");

test("a host is up while its heartbeat is fresh, down once it is stale or it was marked down", () => {
  expect(judgeHostStatus(host(), t0 + 5999, 6000)).toEqual({ status: "up", reason: null });
  const stale = judgeHostStatus(host(), t0 + 6001, 6000);
  expect(stale.status).toBe("down");
  expect(stale.reason).toMatch(/no heartbeat for 6001 ms/);
  expect(judgeHostStatus(host({ status: "down", downReason: "stopped" }), t0, 6000)).toEqual({ status: "down", reason: "stopped" });
});

test("VM state folders of hosts never collide; local keeps the folder it had before hosts", () => {
  expect(vmStateRootFor("/var/lib/cf", "local")).toBe(path.join("/var/lib/cf", "vms"));
  expect(vmStateRootFor("/var/lib/cf", "b")).toBe(path.join("/var/lib/cf", "hosts", "b", "vms"));
});
