import { QmpInterruptedError, QmpProtocolError, QmpTimeoutError } from "./errors";
import { QmpEventListener } from "./events";
import { isErrorReply, isEvent, isGreeting, isReturn, parseQmpMessage, type QmpEventMessage } from "./protocol";

const ev = (event: string, data: Record<string, unknown> = {}): QmpEventMessage => ({ event, data, timestamp: { seconds: 1, microseconds: 2 } });

describe("parseQmpMessage", () => {
  test("tells greeting, event, return and error apart", () => {
    const greeting = parseQmpMessage('{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": "x"}, "capabilities": ["oob"]}}');
    expect(isGreeting(greeting)).toBe(true);
    const event = parseQmpMessage('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}');
    expect(isEvent(event) && event.data).toEqual({});
    const ret = parseQmpMessage('{"return": {"status": "running"}, "id": "a"}');
    expect(isReturn(ret)).toBe(true);
    const err = parseQmpMessage('{"error": {"class": "GenericError", "desc": "no"}, "id": "b"}');
    expect(isErrorReply(err)).toBe(true);
  });

  test("anything else is a protocol error", () => {
    for (const line of ["not json", "[1,2]", '{"hello": 1}', '{"error": "x"}', '{"QMP": {}}', '{"event": 5}']) {
      expect(() => parseQmpMessage(line)).toThrow(QmpProtocolError);
    }
  });
});

describe("QmpEventListener", () => {
  test("queues matching events in order from the moment it is open", async () => {
    const l = new QmpEventListener(["STOP", "RESUME"]);
    for (const e of [ev("STOP"), ev("RTC_CHANGE"), ev("RESUME")]) if (l.accepts(e)) l.push(e);
    expect(l.size).toBe(2);
    expect((await l.next({ timeoutMs: 10 })).event).toBe("STOP");
    expect((await l.next({ timeoutMs: 10 })).event).toBe("RESUME");
  });

  test("a filter narrows what is taken; a throwing filter takes nothing", () => {
    const l = new QmpEventListener<QmpEventMessage>(["JOB_STATUS_CHANGE"], (e) => e.data.id === "j1");
    expect(l.accepts(ev("JOB_STATUS_CHANGE", { id: "j1" }))).toBe(true);
    expect(l.accepts(ev("JOB_STATUS_CHANGE", { id: "j2" }))).toBe(false);
    const bad = new QmpEventListener<QmpEventMessage>("*", () => {
      throw new Error("boom");
    });
    expect(bad.accepts(ev("STOP"))).toBe(false);
  });

  test("next waits for a later event and times out with QmpTimeoutError", async () => {
    const l = new QmpEventListener(["STOP"]);
    const waiting = l.next({ timeoutMs: 1000 });
    setTimeout(() => l.push(ev("STOP")), 5);
    expect((await waiting).event).toBe("STOP");
    const t0 = Date.now();
    await expect(l.next({ timeoutMs: 30 })).rejects.toBeInstanceOf(QmpTimeoutError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
  });

  test("waitFor skips events until the predicate holds, within one deadline", async () => {
    const l = new QmpEventListener<QmpEventMessage>(["MIGRATION"]);
    ["setup", "active", "completed"].forEach((status, i) => setTimeout(() => l.push(ev("MIGRATION", { status })), i * 5));
    expect((await l.waitFor((e) => e.data.status === "completed", { timeoutMs: 1000 })).data.status).toBe("completed");
    await expect(l.waitFor(() => true, { timeoutMs: 20 })).rejects.toMatchObject({ name: "QmpTimeoutError", timeoutMs: 20 });
  });

  test("after the connection ends, queued events are still taken, then waits fail as interrupted", async () => {
    const l = new QmpEventListener(["SHUTDOWN"]);
    l.push(ev("SHUTDOWN", { guest: false, reason: "host-qmp-quit" }));
    const waiterless = new QmpEventListener(["STOP"]);
    const pending = waiterless.next({ timeoutMs: 1000 });
    const end = new QmpInterruptedError("gone");
    l.end(end);
    waiterless.end(end);
    await expect(pending).rejects.toBe(end);
    expect((await l.next({ timeoutMs: 10 })).event).toBe("SHUTDOWN");
    await expect(l.next({ timeoutMs: 10 })).rejects.toBe(end);
  });

  test("close fails a pending next and unregisters once", async () => {
    let unregistered = 0;
    const l = new QmpEventListener(["STOP"], undefined, () => unregistered++);
    const pending = l.next({ timeoutMs: 1000 });
    l.close();
    l.close();
    await expect(pending).rejects.toBeInstanceOf(QmpInterruptedError);
    expect(unregistered).toBe(1);
    expect(l.accepts(ev("STOP"))).toBe(false);
  });

  test("an aborted wait rejects at once", async () => {
    const l = new QmpEventListener(["STOP"]);
    const ac = new AbortController();
    const pending = l.next({ timeoutMs: 1000, signal: ac.signal });
    ac.abort(new Error("stop waiting"));
    await expect(pending).rejects.toMatchObject({ name: "QmpAbortedError" });
  });
});
